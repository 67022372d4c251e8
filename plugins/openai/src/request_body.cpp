#include "inference/openai/request_body.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cmath>

namespace inference::openai {
namespace {

namespace json = boost::json;

// OpenAI's logit_bias range; -infinity (forbid) becomes its lower end, which OpenAI documents as
// a ban.
constexpr double kMinLogitBias = -100.0;
constexpr double kMaxLogitBias = 100.0;

Error unsupported(std::string_view field, std::string_view why) {
  return Error(errc::unsupported, "the openai backend cannot send " + std::string(field) + ": " + std::string(why));
}

// The sampling fields both dialects name alike (top_k, min_p and repeat_penalty are llama-server's
// extensions, which OpenAI's own API rejects: sent only when set).
void add_sampling(json::object& body, const GenerateConfig& config) {
  if (config.temperature) body["temperature"] = *config.temperature;
  if (config.top_p) body["top_p"] = *config.top_p;
  if (config.seed) body["seed"] = *config.seed;
  if (config.top_k) body["top_k"] = *config.top_k;
  if (config.min_p) body["min_p"] = *config.min_p;
  if (config.repeat_penalty) body["repeat_penalty"] = *config.repeat_penalty;
  if (!config.stop.empty()) {
    json::array stop;
    for (const std::string& s : config.stop) stop.emplace_back(s);
    body["stop"] = std::move(stop);
  }
}

json::object common_fields(const std::string& model, const GenerateConfig& config, bool ignore_eos) {
  json::object body;
  body["model"] = model;
  body["stream"] = true;
  body["stream_options"] = json::object{{"include_usage", true}};
  body["max_tokens"] = config.effective_max_tokens();
  add_sampling(body, config);
  if (!config.logit_bias.empty()) {
    json::object bias;
    for (const LogitBias& entry : config.logit_bias) {
      const double value = std::isinf(entry.bias) ? kMinLogitBias : static_cast<double>(entry.bias);
      bias[std::to_string(entry.token)] = std::clamp(value, kMinLogitBias, kMaxLogitBias);
    }
    body["logit_bias"] = std::move(bias);
  }
  if (ignore_eos) body["ignore_eos"] = true;
  return body;
}

}  // namespace

std::optional<Error> unsupported_fields(const GenerateConfig& config, const std::vector<Message>& messages) {
  if (!config.stop_tokens.empty()) {
    return unsupported("GenerateConfig::stop_tokens", "the remote's token ids are not known here; use stop strings");
  }
  if (config.logprobs > 0) return unsupported("GenerateConfig::logprobs", "not implemented for remote streams yet");
  if (!config.json_schema.empty() || !config.grammar.empty()) {
    return unsupported("GenerateConfig::json_schema or ::grammar", "constrained output is not implemented yet");
  }
  if (!config.tools.empty()) return unsupported("GenerateConfig::tools", "tool calls are not implemented yet");
  for (const Message& m : messages) {
    if (!m.tool_calls.empty() || !m.tool_call_id.empty()) {
      return unsupported("a message's tool_calls or tool_call_id", "tool calls are not implemented yet");
    }
  }
  return std::nullopt;
}

std::string completion_body(const std::string& model, const std::string& prompt, const GenerateConfig& config,
                            bool ignore_eos) {
  json::object body = common_fields(model, config, ignore_eos);
  body["prompt"] = prompt;
  return json::serialize(body);
}

std::string llama_completion_body(const std::string& prompt, const GenerateConfig& config, bool ignore_eos) {
  json::object body;
  body["prompt"] = prompt;
  body["stream"] = true;
  body["return_tokens"] = true;
  body["n_predict"] = config.effective_max_tokens();
  add_sampling(body, config);
  if (!config.logit_bias.empty()) {
    json::array bias;
    for (const LogitBias& entry : config.logit_bias) {
      // false is llama-server's "never"; a finite bias passes as is.
      json::value value = !std::isinf(entry.bias) ? json::value(entry.bias)
                          : entry.bias < 0        ? json::value(false)
                                                  : json::value(kMaxLogitBias);
      bias.push_back(json::array{entry.token, std::move(value)});
    }
    body["logit_bias"] = std::move(bias);
  }
  if (ignore_eos) body["ignore_eos"] = true;
  return json::serialize(body);
}

std::string chat_body(const std::string& model, const std::vector<Message>& messages, const GenerateConfig& config,
                      bool ignore_eos) {
  json::object body = common_fields(model, config, ignore_eos);
  json::array list;
  for (const Message& m : messages) list.push_back(json::object{{"role", m.role}, {"content", m.content}});
  body["messages"] = std::move(list);
  return json::serialize(body);
}

}  // namespace inference::openai
