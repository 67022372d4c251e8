#include "inference/llama_server/apply_template_request.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

boost::json::object message_json(const ChatMessage& message) {
  boost::json::object object{{"role", message.role}, {"content", message.content}};
  if (!message.tool_calls.empty()) {
    boost::json::array calls;
    for (const ToolCall& call : message.tool_calls) {
      calls.emplace_back(
          boost::json::object{{"id", call.id},
                              {"type", "function"},
                              {"function", boost::json::object{{"name", call.name}, {"arguments", call.arguments}}}});
    }
    object["tool_calls"] = std::move(calls);
  }
  if (!message.tool_call_id.empty()) object["tool_call_id"] = message.tool_call_id;
  return object;
}

boost::json::value tool_parameters(const ToolDefinition& tool) {
  if (tool.parameters.empty()) return boost::json::object{{"type", "object"}};
  boost::system::error_code ec;
  boost::json::value parsed = boost::json::parse(tool.parameters, ec);
  if (ec || !parsed.is_object()) {
    throw Error(errc::invalid_argument,
                "tool \"" + tool.name + "\": parameters must be a JSON Schema object, got: " + tool.parameters);
  }
  return parsed;
}

}  // namespace

std::string apply_template_request_body(std::span<const ChatMessage> messages, std::span<const ToolDefinition> tools) {
  boost::json::array list;
  list.reserve(messages.size());
  for (const ChatMessage& message : messages) list.emplace_back(message_json(message));
  boost::json::object body{{"messages", std::move(list)}};
  if (!tools.empty()) {
    boost::json::array definitions;
    for (const ToolDefinition& tool : tools) {
      boost::json::object function{{"name", tool.name}, {"parameters", tool_parameters(tool)}};
      if (!tool.description.empty()) function["description"] = tool.description;
      definitions.emplace_back(boost::json::object{{"type", "function"}, {"function", std::move(function)}});
    }
    body["tools"] = std::move(definitions);
  }
  return boost::json::serialize(body);
}

std::string parse_apply_template_response(std::string_view body) {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(body, ec);
  if (ec) {
    throw Error(errc::protocol_error, "llama-server's /apply-template response is not JSON: " + ec.message());
  }
  const boost::json::object* object = parsed.if_object();
  const boost::json::value* prompt = object ? object->if_contains("prompt") : nullptr;
  if (prompt == nullptr || !prompt->is_string()) {
    throw Error(errc::protocol_error, "llama-server's /apply-template response has no string \"prompt\"");
  }
  return std::string(prompt->as_string());
}

bool template_supports_tools(std::string_view props_body) {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(props_body, ec);
  if (ec || !parsed.is_object())
    throw Error(errc::protocol_error, "llama-server's /props response is not a JSON object");
  const boost::json::value* caps = parsed.get_object().if_contains("chat_template_caps");
  const boost::json::value* tools =
      caps && caps->is_object() ? caps->get_object().if_contains("supports_tools") : nullptr;
  return tools != nullptr && tools->is_bool() && tools->get_bool();
}

}  // namespace inference::llama_server
