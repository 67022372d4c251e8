// The JSON the gateway answers with, in OpenAI's shapes: streamed chunks (chat.completion.chunk,
// text_completion), whole responses (chat.completion, text_completion) and the model list.
// Pure functions returning compact JSON text; safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "inference/gateway/openai_request.hpp"
#include "inference/types.hpp"

namespace inference::gateway {

// What every chunk and response of one request repeats.
struct ResponseIdentity {
  std::string id;       // "chatcmpl-<n>" or "cmpl-<n>"
  std::string model;    // the served name the client asked for
  int64_t created = 0;  // Unix seconds
};

// OpenAI's finish_reason: "length" for length, "tool_calls" for tool_calls, "stop" for stop and eos.
std::string_view finish_reason_name(FinishReason reason) noexcept;

// Streaming (one SSE `data:` payload each):
// chat: the first chunk, delta {"role": "assistant", "content": ""}; completions: nothing.
std::string role_chunk(const CompletionRequest& request, const ResponseIdentity& identity);
// One token's text (delta.content / text), with its logprobs entry when request.logprobs.
std::string token_chunk(const CompletionRequest& request, const ResponseIdentity& identity, const Token& token);
// Several tokens in one chunk: their texts joined, their logprobs entries in order. Used when
// tokens arrive faster than the client reads them.
std::string tokens_chunk(const CompletionRequest& request, const ResponseIdentity& identity,
                         const std::vector<Token>& tokens);
// Chat with tools (parses_tool_reply): the one chunk that carries the reply, sent once the stream
// has ended: delta.tool_calls [{index, id, type "function", function {name, arguments}}] when the
// model called tools, else delta.content with its words (nothing when there are none).
std::string tool_reply_chunk(const CompletionRequest& request, const ResponseIdentity& identity,
                             const GenerateResult& result);
// The last choice chunk: empty delta (or text ""), finish_reason set.
std::string finish_chunk(const CompletionRequest& request, const ResponseIdentity& identity, FinishReason reason);
// stream_options.include_usage: "choices": [] and the usage object.
std::string usage_chunk(const CompletionRequest& request, const ResponseIdentity& identity,
                        const GenerateMetrics& metrics);

// Non-streaming: the whole response, with usage, and logprobs when asked for. Chat with tools
// (parses_tool_reply): message.tool_calls with content null, or content = the reply's words.
std::string full_response(const CompletionRequest& request, const ResponseIdentity& identity,
                          const std::vector<Token>& tokens, const GenerateResult& result);

// usage: prompt_tokens, completion_tokens, total_tokens, prompt_tokens_details.cached_tokens,
// from the runtime's metrics (the server's own counts).
// GET /v1/models: {"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}.
struct ModelListing {
  std::string id;
  int64_t created = 0;  // Unix seconds: the model file's modification time
};
std::string models_list(const std::vector<ModelListing>& models);

}  // namespace inference::gateway
