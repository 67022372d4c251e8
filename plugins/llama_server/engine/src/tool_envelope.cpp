#include "inference/llama_server/tool_envelope.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

namespace json = boost::json;

json::value parameters_schema(const ToolDefinition& tool) {
  if (tool.parameters.empty()) return json::object{{"type", "object"}};
  boost::system::error_code ec;
  json::value parsed = json::parse(tool.parameters, ec);
  if (ec || !parsed.is_object()) {
    throw Error(errc::invalid_argument, "GenerateConfig::tools: tool \"" + tool.name +
                                            "\" parameters must be a JSON Schema object, got: " + tool.parameters);
  }
  return parsed;
}

// {"name": <const>, "arguments": <the tool's parameters>}, nothing else.
json::object call_schema(const ToolDefinition& tool) {
  return json::object{{"type", "object"},
                      {"properties", json::object{{"name", json::object{{"const", tool.name}}},
                                                  {"arguments", parameters_schema(tool)}}},
                      {"required", json::array{"name", "arguments"}},
                      {"additionalProperties", false}};
}

json::object calls_schema(const GenerateConfig& config) {
  json::array alternatives;
  for (const ToolDefinition& tool : config.tools) {
    if (config.tool_choice == ToolChoice::named && tool.name != config.tool_name) {
      parameters_schema(tool);  // still refused when invalid: the request is at fault either way
      continue;
    }
    alternatives.emplace_back(call_schema(tool));
  }
  json::object list{{"type", "array"}, {"minItems", 1}, {"items", json::object{{"anyOf", std::move(alternatives)}}}};
  if (!config.parallel_tool_calls) list["maxItems"] = 1;
  return json::object{{"type", "object"},
                      {"properties", json::object{{"tool_calls", std::move(list)}}},
                      {"required", json::array{"tool_calls"}},
                      {"additionalProperties", false}};
}

json::object reply_schema() {
  return json::object{{"type", "object"},
                      {"properties", json::object{{"reply", json::object{{"type", "string"}}}}},
                      {"required", json::array{"reply"}},
                      {"additionalProperties", false}};
}

std::optional<ToolCall> read_call(const json::value& value, std::size_t index) {
  const json::object* call = value.if_object();
  const json::value* name = call ? call->if_contains("name") : nullptr;
  const json::value* arguments = call ? call->if_contains("arguments") : nullptr;
  if (name == nullptr || !name->is_string() || arguments == nullptr || !arguments->is_object()) return std::nullopt;
  return ToolCall{"call_" + std::to_string(index), std::string(name->get_string()), json::serialize(*arguments)};
}

}  // namespace

std::string tool_envelope_schema(const GenerateConfig& config) {
  if (config.tools.empty()) return {};
  if (config.tool_choice == ToolChoice::none) {
    for (const ToolDefinition& tool : config.tools) parameters_schema(tool);
    return {};
  }
  json::object calls = calls_schema(config);
  if (config.tool_choice != ToolChoice::automatic) return json::serialize(calls);
  return json::serialize(json::object{{"anyOf", json::array{std::move(calls), reply_schema()}}});
}

std::optional<ToolReply> parse_tool_envelope(std::string_view text) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(text, ec);
  const json::object* envelope = ec ? nullptr : parsed.if_object();
  if (envelope == nullptr) return std::nullopt;
  ToolReply result;
  if (const json::value* reply = envelope->if_contains("reply"); reply && reply->is_string()) {
    result.reply = std::string(reply->get_string());
    return result;
  }
  const json::value* calls = envelope->if_contains("tool_calls");
  if (calls == nullptr || !calls->is_array() || calls->get_array().empty()) return std::nullopt;
  for (const json::value& value : calls->get_array()) {
    std::optional<ToolCall> call = read_call(value, result.calls.size());
    if (!call) return std::nullopt;
    result.calls.push_back(std::move(*call));
  }
  return result;
}

}  // namespace inference::llama_server
