// The `POST /apply-template` exchange: llama-server renders chat messages with the model's chat
// template (or --chat-template) into the prompt text that is then sent to /completion. The
// generation prompt (e.g. "<|im_start|>assistant\n") is appended by the server. With tools, the
// messages and tools go in OpenAI's shapes and the Jinja template receives them as they are.
//
// Ownership: plain values. Thread-safety: the functions are pure; safe from any thread.
// Cancellation: not applicable.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "inference/tools.hpp"

namespace inference::llama_server {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant", "tool"
  std::string content;
  std::vector<ToolCall> tool_calls{};  // assistant: calls it made, sent as OpenAI's tool_calls
  std::string tool_call_id{};          // tool: the call this message answers
};

// {"messages":[{"role":…,"content":…[,"tool_calls":[…]][,"tool_call_id":…]},…][,"tools":[…]]}
// Each tool goes as {"type":"function","function":{"name","description","parameters"}}, its
// parameters parsed ({"type":"object"} when empty). Throws Error(invalid_argument) naming the
// tool whose parameters are not a JSON object.
std::string apply_template_request_body(std::span<const ChatMessage> messages,
                                        std::span<const ToolDefinition> tools = {});

// The rendered prompt from the 200 response body {"prompt":"…"}. Throws Error(protocol_error)
// naming what was wrong when the body is not that shape.
std::string parse_apply_template_response(std::string_view body);

// Whether the template can render tools, from a `GET /props` body
// (chat_template_caps.supports_tools; false when absent). Throws Error(protocol_error) when the
// body is not a JSON object.
bool template_supports_tools(std::string_view props_body);

}  // namespace inference::llama_server
