#include "inference/llama_server/request_params.hpp"

#include <boost/json/stream_parser.hpp>
#include <utility>

namespace inference::llama_server {

namespace {

// Where and why the text is not JSON, or std::nullopt when it is.
std::optional<std::string> json_syntax_error(std::string_view text) {
  boost::json::stream_parser parser;
  boost::system::error_code ec;
  const std::size_t consumed = parser.write(text.data(), text.size(), ec);
  if (!ec) parser.finish(ec);
  if (!ec) return std::nullopt;
  return ec.message() + " at offset " + std::to_string(consumed);
}

std::string outside_vocabulary(std::string_view what, int64_t id, uint64_t vocab_size) {
  return std::string(what) + " token " + std::to_string(id) + " is outside the model's vocabulary (ids 0.." +
         std::to_string(vocab_size - 1) + ")";
}

}  // namespace

CompletionParams request_params(const GenerateConfig& config, Prompt prompt, uint32_t slot,
                                const EngineOptions& engine) {
  CompletionParams params;
  params.prompt = std::move(prompt);
  params.n_predict = config.effective_max_tokens();
  if (config.temperature) params.temperature = *config.temperature;
  params.top_k = config.top_k;
  if (config.top_p) params.top_p = *config.top_p;
  if (config.min_p) params.min_p = *config.min_p;
  if (config.repeat_penalty) params.repeat_penalty = *config.repeat_penalty;
  if (config.seed) params.seed = static_cast<uint32_t>(*config.seed);
  params.stop = config.stop;
  if (config.logprobs > 0) params.n_probs = config.logprobs;
  params.id_slot = static_cast<int32_t>(slot);
  params.cache_prompt = true;
  if (engine.ignore_eos) params.ignore_eos = true;
  params.json_schema = config.json_schema;
  params.grammar = config.grammar;
  params.logit_bias.reserve(config.logit_bias.size());
  for (const LogitBias& entry : config.logit_bias) params.logit_bias.push_back(TokenBias{entry.token, entry.bias});
  return params;
}

std::optional<Error> check_request(const GenerateConfig& config, uint64_t vocab_size) {
  if (!config.json_schema.empty()) {
    if (std::optional<std::string> why = json_syntax_error(config.json_schema)) {
      return Error(errc::invalid_argument, "GenerateConfig::json_schema is not valid JSON: " + *why);
    }
  }
  if (vocab_size == 0) return std::nullopt;
  for (const LogitBias& entry : config.logit_bias) {
    if (entry.token >= 0 && static_cast<uint64_t>(entry.token) >= vocab_size) {
      return Error(errc::invalid_argument, outside_vocabulary("GenerateConfig::logit_bias", entry.token, vocab_size));
    }
  }
  return std::nullopt;
}

std::optional<Error> check_token_ids(std::span<const TokenId> ids, uint64_t vocab_size, std::string_view what) {
  for (const TokenId id : ids) {
    if (id < 0)
      return Error(errc::invalid_argument, std::string(what) + " token " + std::to_string(id) + " is negative");
    if (vocab_size != 0 && static_cast<uint64_t>(id) >= vocab_size) {
      return Error(errc::invalid_argument, outside_vocabulary(what, id, vocab_size));
    }
  }
  return std::nullopt;
}

}  // namespace inference::llama_server
