#include "inference/llama_server/completion_request.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

void put_real(boost::json::object& body, std::string_view key, const std::optional<double>& value) {
  if (!value) {
    return;
  }
  if (!std::isfinite(*value)) {
    throw Error(errc::invalid_argument, "completion parameter " + std::string(key) + " must be a finite number");
  }
  body[key] = *value;
}

template <typename Integer>
void put_integer(boost::json::object& body, std::string_view key, const std::optional<Integer>& value) {
  if (value) {
    body[key] = *value;
  }
}

}  // namespace

std::string completion_request_body(const CompletionParams& params) {
  boost::json::object body;
  if (const auto* text = std::get_if<std::string>(&params.prompt)) {
    body["prompt"] = *text;
  } else {
    const auto& ids = std::get<std::vector<TokenId>>(params.prompt);
    boost::json::array tokens;
    tokens.reserve(ids.size());
    for (const TokenId id : ids) {
      tokens.emplace_back(id);
    }
    body["prompt"] = std::move(tokens);
  }
  body["stream"] = true;
  body["return_tokens"] = true;

  if (params.ignore_eos) {
    body["ignore_eos"] = *params.ignore_eos;
  }
  put_integer(body, "n_predict", params.n_predict);
  put_real(body, "temperature", params.temperature);
  put_integer(body, "top_k", params.top_k);
  put_real(body, "top_p", params.top_p);
  put_real(body, "min_p", params.min_p);
  put_real(body, "repeat_penalty", params.repeat_penalty);
  put_integer(body, "seed", params.seed);
  if (!params.stop.empty()) {
    boost::json::array stop;
    stop.reserve(params.stop.size());
    for (const std::string& word : params.stop) {
      stop.emplace_back(word);
    }
    body["stop"] = std::move(stop);
  }
  if (params.n_probs && *params.n_probs < 0) {
    throw Error(errc::invalid_argument, "completion parameter n_probs must not be negative");
  }
  put_integer(body, "n_probs", params.n_probs);
  put_integer(body, "id_slot", params.id_slot);
  if (params.cache_prompt) {
    body["cache_prompt"] = *params.cache_prompt;
  }
  return boost::json::serialize(body);
}

}  // namespace inference::llama_server
