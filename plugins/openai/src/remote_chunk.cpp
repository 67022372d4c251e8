#include "inference/openai/remote_chunk.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "inference/error.hpp"
#include "inference/openai/remote_error.hpp"

namespace inference::openai {
namespace {

namespace json = boost::json;

[[noreturn]] void malformed(std::string_view context, std::string_view why) {
  throw Error(errc::protocol_error, std::string(context) + ": malformed stream event: " + std::string(why));
}

std::uint64_t count_field(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  if (value == nullptr || value->is_null()) return 0;
  if (value->is_uint64()) return value->as_uint64();
  if (value->is_int64() && value->as_int64() >= 0) return static_cast<std::uint64_t>(value->as_int64());
  return 0;
}

double rate_field(const json::object& object, std::string_view key) {
  const json::value* value = object.if_contains(key);
  return value != nullptr && value->is_number() ? value->to_number<double>() : 0.0;
}

RemoteUsage read_usage(const json::object& usage, const json::object& event) {
  RemoteUsage out;
  out.prompt_tokens = count_field(usage, "prompt_tokens");
  out.completion_tokens = count_field(usage, "completion_tokens");
  if (const json::value* details = usage.if_contains("prompt_tokens_details"); details && details->is_object()) {
    out.cached_tokens = count_field(details->as_object(), "cached_tokens");
  }
  if (const json::value* timings = event.if_contains("timings"); timings && timings->is_object()) {
    out.prefill_tokens_per_s = rate_field(timings->as_object(), "prompt_per_second");
    out.decode_tokens_per_s = rate_field(timings->as_object(), "predicted_per_second");
  }
  return out;
}

// choices[0]'s token (text or delta content) and finish reason.
void read_choice(const json::object& choice, bool chat, RemoteChunk& out, std::string_view context) {
  const json::value* text = nullptr;
  bool announces_role = false;
  if (chat) {
    const json::value* delta = choice.if_contains("delta");
    if (delta != nullptr && !delta->is_object()) malformed(context, "delta is not an object");
    text = delta != nullptr ? delta->as_object().if_contains("content") : nullptr;
    announces_role = delta != nullptr && delta->as_object().contains("role");
  } else {
    text = choice.if_contains("text");
  }
  const json::value* finish = choice.if_contains("finish_reason");
  if (finish != nullptr && !finish->is_null()) {
    if (!finish->is_string()) malformed(context, "finish_reason is not a string");
    out.finish = finish->as_string() == "length" ? FinishReason::length : FinishReason::stop;
  }
  if (text == nullptr || text->is_null()) return;
  if (!text->is_string()) malformed(context, chat ? "delta.content is not a string" : "text is not a string");
  const json::string& value = text->as_string();
  if (!value.empty() || (!announces_role && !out.finish)) out.token = std::string(value);
}

// The final event's counts and rates, in the usage form of the OpenAI events.
RemoteUsage read_llama_usage(const json::object& event) {
  RemoteUsage out;
  out.prompt_tokens = count_field(event, "tokens_evaluated");
  out.completion_tokens = count_field(event, "tokens_predicted");
  if (const json::value* timings = event.if_contains("timings"); timings && timings->is_object()) {
    out.cached_tokens = count_field(timings->as_object(), "cache_n");
    out.prefill_tokens_per_s = rate_field(timings->as_object(), "prompt_per_second");
    out.decode_tokens_per_s = rate_field(timings->as_object(), "predicted_per_second");
  }
  return out;
}

std::optional<std::int32_t> read_token_id(const json::object& event, std::string_view context) {
  const json::value* tokens = event.if_contains("tokens");
  if (tokens == nullptr || tokens->is_null()) return std::nullopt;
  if (!tokens->is_array()) malformed(context, "tokens is not an array");
  const json::array& ids = tokens->as_array();
  if (ids.empty()) return std::nullopt;
  if (ids.size() > 1) malformed(context, "an event carries more than one token id");
  const json::value& id = ids.front();
  if (id.is_int64() && id.as_int64() >= 0 && id.as_int64() <= INT32_MAX)
    return static_cast<std::int32_t>(id.as_int64());
  if (id.is_uint64() && id.as_uint64() <= INT32_MAX) return static_cast<std::int32_t>(id.as_uint64());
  malformed(context, "a token id is not a non-negative 32-bit integer");
}

}  // namespace

RemoteChunk parse_llama_completion_chunk(std::string_view payload, std::string_view context) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(payload, ec);
  if (ec || !parsed.is_object()) malformed(context, "not a JSON object");
  const json::object& event = parsed.as_object();
  if (event.contains("error")) throw remote_error_from_event(payload, context);
  const json::value* stop = event.if_contains("stop");
  if (stop == nullptr || !stop->is_bool()) malformed(context, "stop is missing or not a boolean");
  RemoteChunk out;
  if (stop->as_bool()) {
    const json::value* type = event.if_contains("stop_type");
    out.finish = type != nullptr && type->is_string() && type->as_string() == "limit" ? FinishReason::length
                                                                                      : FinishReason::stop;
    out.usage = read_llama_usage(event);
    return out;
  }
  const json::value* content = event.if_contains("content");
  if (content == nullptr || !content->is_string()) malformed(context, "content is missing or not a string");
  out.token = std::string(content->as_string());
  out.token_id = read_token_id(event, context);
  return out;
}

RemoteChunk parse_remote_chunk(std::string_view payload, bool chat, std::string_view context) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(payload, ec);
  if (ec || !parsed.is_object()) malformed(context, "not a JSON object");
  const json::object& event = parsed.as_object();
  if (event.contains("error")) throw remote_error_from_event(payload, context);
  RemoteChunk out;
  if (const json::value* choices = event.if_contains("choices")) {
    if (!choices->is_array()) malformed(context, "choices is not an array");
    if (!choices->as_array().empty()) {
      const json::value& first = choices->as_array().front();
      if (!first.is_object()) malformed(context, "a choice is not an object");
      read_choice(first.as_object(), chat, out, context);
    }
  }
  if (const json::value* usage = event.if_contains("usage"); usage && usage->is_object()) {
    out.usage = read_usage(usage->as_object(), event);
  }
  return out;
}

}  // namespace inference::openai
