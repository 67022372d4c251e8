// Tool (function) calling in chat(): the tools a request offers the model, the calls the model
// makes, and how the model is told to choose. Plain value types: copyable, movable, safe to
// hand between threads.
//
// How a backend makes the model call a tool is its own (see docs/structured-output.md for the
// llama-server engine: the chat template renders the tools, and a JSON schema built from their
// parameters constrains what the model writes, so a call always parses).
#pragma once

#include <string>
#include <vector>

namespace inference {

// One function the model may call.
struct ToolDefinition {
  std::string name;         // [A-Za-z0-9_-], 1 to 64 characters
  std::string description;  // may be empty
  std::string parameters;   // a JSON Schema (text) for the arguments object; empty = any object
};

// One call the model made, or (in a Message) one it made earlier in the conversation.
struct ToolCall {
  std::string id;         // unique within the reply, e.g. "call_0"; echoed by the tool's answer
  std::string name;       // one of the offered tools
  std::string arguments;  // a JSON object (text) that matches the tool's parameters
};

enum class ToolChoice {
  automatic,  // the model decides: a reply in words or tool calls ("auto")
  none,       // the tools are shown to the model but it must answer in words
  required,   // the model must call one or more tools
  named,      // the model must call GenerateConfig::tool_name
};

}  // namespace inference
