// The `POST /apply-template` exchange: llama-server renders chat messages with the model's chat
// template (or --chat-template) into the prompt text that is then sent to /completion. The
// generation prompt (e.g. "<|im_start|>assistant\n") is appended by the server.
//
// Ownership: plain values. Thread-safety: the functions are pure; safe from any thread.
// Cancellation: not applicable.
#pragma once

#include <span>
#include <string>
#include <string_view>

namespace inference::llama_server {

struct ChatMessage {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

// {"messages":[{"role":…,"content":…},…]}
std::string apply_template_request_body(std::span<const ChatMessage> messages);

// The rendered prompt from the 200 response body {"prompt":"…"}. Throws Error(protocol_error)
// naming what was wrong when the body is not that shape.
std::string parse_apply_template_response(std::string_view body);

}  // namespace inference::llama_server
