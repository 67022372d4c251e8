// The envelope a model writes when chat() offers tools: the llama-server engine constrains the
// output with a JSON Schema built from the tools (sent as /completion's json_schema), so what the
// model writes always parses, then reads the calls or the reply back out of it.
//
//   a call:  {"tool_calls":[{"name":"<tool>","arguments":{…that tool's parameters…}}, …]}
//   words:   {"reply":"<text>"}   (ToolChoice::automatic only: the model picks one of the two)
//
// ToolChoice::required allows any of the tools (one or more calls), named only that tool,
// automatic either shape, none no envelope at all (the model answers in plain words).
// parallel_tool_calls false caps the list at one call.
//
// Ownership: plain values. Thread-safety: the functions are pure; safe from any thread.
// Cancellation: not applicable.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inference/generate_config.hpp"
#include "inference/tools.hpp"

namespace inference::llama_server {

// The JSON Schema (compact text) for config's tools and tool_choice; empty for ToolChoice::none
// or no tools. Throws Error(invalid_argument) naming the tool whose parameters are not a JSON
// object.
std::string tool_envelope_schema(const GenerateConfig& config);

// What the envelope said: calls with ids "call_0", "call_1"… and arguments as compact JSON text,
// or a reply in words.
struct ToolReply {
  std::vector<ToolCall> calls;
  std::string reply;
};

// The envelope parsed, or std::nullopt when `text` is not a complete envelope (e.g. max_tokens
// cut it short).
std::optional<ToolReply> parse_tool_envelope(std::string_view text);

}  // namespace inference::llama_server
