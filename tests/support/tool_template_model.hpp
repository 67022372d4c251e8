// The tiny test model with a chat template that renders tools, tool calls and tool results
// (tokenizer.chat_template replaced; every other key and every tensor copied), for tool-call
// tests against the real llama-server. The shared model's own template cannot render tools.
//
// Ownership: plain functions writing files. Thread-safety: safe from any thread for distinct
// paths. Cancellation: not applicable.
#pragma once

#include <filesystem>
#include <string_view>

namespace inference::test {

// The template: a system turn listing the tools (name, description, parameters as JSON), then
// ChatML turns; an assistant turn's calls as "call <name> <arguments>", a tool turn as
// "result of <tool_call_id>: <content>".
extern const std::string_view kToolChatTemplate;

// Writes `source` with kToolChatTemplate as its chat template to `destination`. Throws
// Error(invalid_argument) naming the file when reading or writing fails.
void write_tool_template_model(const std::filesystem::path& source, const std::filesystem::path& destination);

}  // namespace inference::test
