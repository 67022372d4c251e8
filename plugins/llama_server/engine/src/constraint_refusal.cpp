#include "inference/llama_server/constraint_refusal.hpp"

#include <string_view>

namespace inference::llama_server {

namespace {

// llama-server answers a request it refuses with 400 Bad Request.
constexpr unsigned kBadRequest = 400;

}  // namespace

std::optional<Error> constraint_refusal(const ServerError& error, const GenerateConfig& config,
                                        std::string server_output) {
  const bool constrained = !config.json_schema.empty() || !config.grammar.empty();
  if (!constrained || error.status() != kBadRequest) return std::nullopt;
  // The server names what it could not use: "failed to parse grammar", "Field 'json_schema': ...".
  const std::string_view message = error.server_message();
  const bool about_constraint =
      message.find("grammar") != std::string_view::npos || message.find("json_schema") != std::string_view::npos;
  if (!about_constraint) return std::nullopt;
  const std::string_view field = config.grammar.empty() ? "json_schema" : "grammar";
  return Error(errc::invalid_argument,
               "llama-server refused GenerateConfig::" + std::string(field) + ": " + std::string(message),
               std::move(server_output));
}

}  // namespace inference::llama_server
