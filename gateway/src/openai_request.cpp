#include "inference/gateway/openai_request.hpp"

#include <algorithm>
#include <array>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <optional>
#include <string>
#include <utility>

#include "inference/gateway/api_error.hpp"
#include "json_body.hpp"
#include "request_fields.hpp"
#include "structured_fields.hpp"

namespace inference::gateway {
namespace {

namespace json = boost::json;
using detail::describe;
using detail::field;
using detail::indexed;
using detail::read_bool;
using detail::read_integer;
using detail::read_number;
using detail::read_string;
using detail::read_unsigned;
using detail::refuse;

// Text parts of one message's content are joined with this, so words of adjacent parts never run
// together.
constexpr std::string_view kContentPartSeparator = "\n";

// Fields OpenAI defines that ask for something the runtime cannot do. Each is accepted only with
// the value that asks for nothing (its default, or null); any other value is refused rather than
// silently ignored, so a client never gets an answer to a question it did not ask.
struct UnsupportedField {
  std::string_view name;
  bool (*asks_nothing)(const json::value&);
  std::string_view why;
};

bool is_false(const json::value& v) { return v.is_bool() && !v.get_bool(); }
bool is_true(const json::value& v) { return v.is_bool() && v.get_bool(); }
bool is_one(const json::value& v) { return v.is_number() && v.to_number<double>() == 1.0; }
bool is_zero(const json::value& v) { return v.is_number() && v.to_number<double>() == 0.0; }
bool is_empty_string(const json::value& v) { return v.is_string() && v.get_string().empty(); }
bool is_empty_array(const json::value& v) { return v.is_array() && v.get_array().empty(); }
bool is_none_or_auto(const json::value& v) {
  return v.is_string() && (v.get_string() == "none" || v.get_string() == "auto");
}
bool is_text_format(const json::value& v) {
  const json::value* type = v.is_object() ? v.get_object().if_contains("type") : nullptr;
  return type != nullptr && type->is_string() && type->get_string() == "text";
}
bool is_text_modality(const json::value& v) {
  return v.is_array() && v.get_array().size() == 1 && v.get_array()[0].is_string() &&
         v.get_array()[0].get_string() == "text";
}
bool never(const json::value&) { return false; }

constexpr std::string_view kLegacyFunctions = "the legacy functions API is not supported; use tools and tool_choice";
constexpr std::array<UnsupportedField, 10> kUnsupportedFields{{
    {"functions", is_empty_array, kLegacyFunctions},
    {"function_call", is_none_or_auto, kLegacyFunctions},
    {"echo", is_false, "echoing the prompt is not supported"},
    {"best_of", is_one, "only one completion per request is supported (best_of 1)"},
    {"suffix", is_empty_string, "insertion (a suffix after the completion) is not supported"},
    {"presence_penalty", is_zero, "presence_penalty is not supported; only 0 is"},
    {"frequency_penalty", is_zero, "frequency_penalty is not supported; only 0 is"},
    {"audio", never, "audio output is not supported"},
    {"modalities", is_text_modality, "only the [\"text\"] modality is supported"},
    {"prediction", never, "predicted outputs are not supported"},
}};

// Chat fields that /v1/completions cannot honour (it has no messages to render tools into).
constexpr std::string_view kChatOnly = "it is a /v1/chat/completions field";
constexpr std::array<UnsupportedField, 4> kChatOnlyFields{{
    {"tools", is_empty_array, kChatOnly},
    {"tool_choice", is_none_or_auto, kChatOnly},
    {"parallel_tool_calls", is_true, kChatOnly},
    {"response_format", is_text_format, kChatOnly},
}};

template <std::size_t N>
void refuse_fields(const json::object& fields, const std::array<UnsupportedField, N>& list) {
  for (const UnsupportedField& unsupported : list) {
    const json::value* value = field(fields, unsupported.name);
    if (value != nullptr && !unsupported.asks_nothing(*value)) {
      const std::string name(unsupported.name);
      refuse(name + " = " + describe(*value) + " is refused: " + std::string(unsupported.why), name);
    }
  }
}

// A body meant for the other endpoint gets a message that says so, not just "field missing".
void refuse_wrong_endpoint(Endpoint endpoint, const json::object& fields) {
  const bool has_messages = fields.contains("messages");
  const bool has_prompt = fields.contains("prompt");
  if (endpoint == Endpoint::chat_completions && !has_messages && has_prompt) {
    refuse(
        "this body has \"prompt\" but no \"messages\": /v1/chat/completions takes messages; a prompt goes to "
        "/v1/completions",
        "messages");
  }
  if (endpoint == Endpoint::completions && !has_prompt && has_messages) {
    refuse(
        "this body has \"messages\" but no \"prompt\": /v1/completions takes a prompt; messages go to "
        "/v1/chat/completions",
        "prompt");
  }
}

std::string read_model(const json::object& fields) {
  const json::value* model = field(fields, "model");
  if (model == nullptr) {
    refuse("model is required: the name of a served model (GET /v1/models lists them)", "model");
  }
  const json::string& name = read_string(*model, "model");
  if (name.empty()) {
    refuse("model must not be empty", "model");
  }
  return std::string(name);
}

std::string read_role(const json::object& message, const std::string& param) {
  const json::value* role = field(message, "role");
  if (role == nullptr) {
    refuse(param + " is required (system, developer, user, assistant or tool)", param);
  }
  const json::string& name = read_string(*role, param);
  if (name == "system" || name == "user" || name == "assistant" || name == "tool") {
    return std::string(name);
  }
  if (name == "developer") {  // OpenAI's newer name for the system role
    return "system";
  }
  if (name == "function") {
    refuse(param + " " + describe(*role) + " is refused: " + std::string(kLegacyFunctions), param);
  }
  refuse(param + " " + describe(*role) + " is not a known role (system, developer, user, assistant or tool)", param);
}

std::string read_text_part(const json::value& part, const std::string& param) {
  if (!part.is_object()) {
    refuse(param + " must be a content part object, got " + describe(part), param);
  }
  const json::value* type = field(part.get_object(), "type");
  if (type == nullptr) {
    refuse(param + ".type is required (\"text\")", param + ".type");
  }
  if (read_string(*type, param + ".type") != "text") {
    refuse(param + ".type " + describe(*type) + " is refused: only text content parts are supported", param + ".type");
  }
  const json::value* text = field(part.get_object(), "text");
  if (text == nullptr) {
    refuse(param + ".text is required", param + ".text");
  }
  return std::string(read_string(*text, param + ".text"));
}

std::string read_content(const json::object& message, const std::string& param) {
  const json::value* content = message.if_contains("content");
  if (content == nullptr) {
    refuse(param + " is required", param);
  }
  if (content->is_string()) {
    return std::string(content->get_string());
  }
  if (!content->is_array()) {
    refuse(param + " must be a string or an array of text parts, got " + describe(*content), param);
  }
  std::string text;
  const json::array& parts = content->get_array();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) {
      text += kContentPartSeparator;
    }
    text += read_text_part(parts[i], indexed(param, i));
  }
  return text;
}

Message read_message(const json::value& value, const std::string& param) {
  if (!value.is_object()) {
    refuse(param + " must be a message object, got " + describe(value), param);
  }
  const json::object& object = value.get_object();
  Message message;
  message.role = read_role(object, param + ".role");
  if (field(object, "function_call") != nullptr) {
    refuse(param + ".function_call is refused: " + std::string(kLegacyFunctions), param + ".function_call");
  }
  detail::read_message_tool_fields(object, param, message);
  // An assistant message that called tools may have no content (OpenAI sends null).
  if (message.tool_calls.empty() || field(object, "content") != nullptr) {
    message.content = read_content(object, param + ".content");
  }
  return message;
}

std::vector<Message> read_messages(const json::object& fields, const RequestLimits& limits) {
  const json::value* messages = field(fields, "messages");
  if (messages == nullptr) {
    refuse("messages is required: an array of {\"role\", \"content\"} objects", "messages");
  }
  if (!messages->is_array()) {
    refuse("messages must be an array of message objects, got " + describe(*messages), "messages");
  }
  const json::array& array = messages->get_array();
  if (array.empty()) {
    refuse("messages must not be empty", "messages");
  }
  if (array.size() > limits.max_messages) {
    refuse("messages holds " + std::to_string(array.size()) + " messages, more than the limit of " +
               std::to_string(limits.max_messages),
           "messages");
  }
  std::vector<Message> result;
  result.reserve(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    result.push_back(read_message(array[i], indexed("messages", i)));
  }
  return result;
}

std::string read_prompt(const json::object& fields) {
  const json::value* prompt = field(fields, "prompt");
  if (prompt == nullptr) {
    refuse("prompt is required: the text to complete", "prompt");
  }
  if (prompt->is_string()) {
    return std::string(prompt->get_string());
  }
  if (prompt->is_array()) {
    const json::array& array = prompt->get_array();
    if (!array.empty() && (array[0].is_number() || array[0].is_array())) {
      refuse("prompt as token ids is not supported; send the prompt as a string", "prompt");
    }
    if (array.size() == 1 && array[0].is_string()) {
      return std::string(array[0].get_string());
    }
    if (array.size() > 1) {
      refuse("prompt holds " + std::to_string(array.size()) +
                 " prompts; only one prompt per request is supported (a string, or an array of one string)",
             "prompt");
    }
  }
  refuse("prompt must be a string or an array of one string, got " + describe(*prompt), "prompt");
}

void read_max_tokens(const json::object& fields, const RequestLimits& limits, GenerateConfig& config) {
  std::optional<int64_t> chosen;
  std::string chosen_name;
  for (const std::string name : {"max_tokens", "max_completion_tokens"}) {
    const json::value* value = field(fields, name);
    if (value == nullptr) {
      continue;
    }
    const int64_t tokens = read_integer(*value, name, 0, limits.max_tokens);
    if (chosen && *chosen != tokens) {
      refuse("max_tokens (" + std::to_string(*chosen) + ") and max_completion_tokens (" + std::to_string(tokens) +
                 ") disagree; send one of them",
             name);
    }
    chosen = tokens;
  }
  if (chosen) {
    config.max_tokens = static_cast<int32_t>(*chosen);
  }
}

std::vector<std::string> read_stop(const json::value& stop, const RequestLimits& limits) {
  const auto stop_string = [](const json::value& value, const std::string& param) {
    const json::string& text = read_string(value, param);
    if (text.empty()) {
      refuse(param + " must not be an empty string", param);
    }
    return std::string(text);
  };
  if (stop.is_string()) {
    return {stop_string(stop, "stop")};
  }
  if (!stop.is_array()) {
    refuse("stop must be a string or an array of strings, got " + describe(stop), "stop");
  }
  const json::array& array = stop.get_array();
  if (array.size() > limits.max_stop_strings) {
    refuse("stop holds " + std::to_string(array.size()) + " strings, more than the limit of " +
               std::to_string(limits.max_stop_strings),
           "stop");
  }
  std::vector<std::string> result;
  result.reserve(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    result.push_back(stop_string(array[i], indexed("stop", i)));
  }
  return result;
}

void read_sampling(const json::object& fields, const RequestLimits& limits, GenerateConfig& config) {
  read_max_tokens(fields, limits, config);
  if (const json::value* value = field(fields, "temperature")) {
    config.temperature = static_cast<float>(read_number(*value, "temperature", 0.0, 2.0));
  }
  if (const json::value* value = field(fields, "top_p")) {
    config.top_p = static_cast<float>(read_number(*value, "top_p", 0.0, 1.0));
  }
  if (const json::value* value = field(fields, "seed")) {
    config.seed = read_unsigned(*value, "seed");
  }
  if (const json::value* value = field(fields, "stop")) {
    config.stop = read_stop(*value, limits);
  }
  if (const json::value* value = field(fields, "n")) {
    read_integer(*value, "n", 1, 1);  // one choice per request: n is accepted only as 1
  }
  if (const json::value* value = field(fields, "user")) {
    config.session = std::string(read_string(*value, "user"));
  }
}

void read_streaming(const json::object& fields, CompletionRequest& request) {
  if (const json::value* value = field(fields, "stream")) {
    request.stream = read_bool(*value, "stream");
  }
  const json::value* options = field(fields, "stream_options");
  if (options == nullptr) {
    return;
  }
  if (!request.stream) {  // as OpenAI answers it
    refuse("stream_options is only allowed when stream is true", "stream_options");
  }
  if (!options->is_object()) {
    refuse("stream_options must be an object, got " + describe(*options), "stream_options");
  }
  if (const json::value* value = field(options->get_object(), "include_usage")) {
    request.include_usage = read_bool(*value, "stream_options.include_usage");
  }
}

void read_logprobs(Endpoint endpoint, const json::object& fields, const RequestLimits& limits,
                   CompletionRequest& request) {
  const json::value* logprobs = field(fields, "logprobs");
  if (endpoint == Endpoint::completions) {
    // The legacy field: an integer, the number of alternatives per token (0 = the chosen one only).
    if (logprobs != nullptr) {
      request.logprobs = true;
      request.top_logprobs = static_cast<int32_t>(read_integer(*logprobs, "logprobs", 0, limits.max_top_logprobs));
    }
    return;
  }
  request.logprobs = logprobs != nullptr && read_bool(*logprobs, "logprobs");
  if (const json::value* top = field(fields, "top_logprobs")) {
    request.top_logprobs = static_cast<int32_t>(read_integer(*top, "top_logprobs", 0, limits.max_top_logprobs));
    if (!request.logprobs) {  // as OpenAI answers it
      refuse("top_logprobs is only allowed when logprobs is true", "top_logprobs");
    }
  }
}

}  // namespace

bool parses_tool_reply(const CompletionRequest& request) {
  return request.endpoint == Endpoint::chat_completions && !request.config.tools.empty() &&
         request.config.tool_choice != ToolChoice::none;
}

CompletionRequest parse_completion_request(Endpoint endpoint, std::string_view body, const RequestLimits& limits) {
  json::monotonic_resource memory;  // everything parsed is copied out before it goes
  const json::value document = detail::parse_json_body(body, limits, &memory);
  const json::object& fields = document.get_object();

  CompletionRequest request;
  request.endpoint = endpoint;
  refuse_wrong_endpoint(endpoint, fields);
  request.model = read_model(fields);
  refuse_fields(fields, kUnsupportedFields);  // before the messages: a body with functions hears about them first
  if (endpoint == Endpoint::chat_completions) {
    detail::read_response_format(fields, request.config);
    detail::read_tools(fields, request.config);
    request.messages = read_messages(fields, limits);
  } else {
    refuse_fields(fields, kChatOnlyFields);
    request.prompt = read_prompt(fields);
  }
  detail::read_logit_bias(fields, request.config);
  read_sampling(fields, limits, request.config);
  read_streaming(fields, request);
  read_logprobs(endpoint, fields, limits, request);
  if (request.logprobs) {
    // The chosen token's own probability is reported from the alternatives, so ask for at least one.
    request.config.logprobs = std::max(request.top_logprobs, 1);
  }
  if (const std::optional<Error> invalid = validate(request.config)) {
    refuse(invalid->what(), {});  // every field was range-checked above: this is a safety net
  }
  return request;
}

}  // namespace inference::gateway
