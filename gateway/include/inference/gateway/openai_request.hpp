// The OpenAI request bodies the gateway accepts, parsed and validated into the runtime's types
// before any work starts. Pure functions: no I/O, safe from any thread. Fuzzed
// (fuzz/openai_request_fuzz.cpp).
//
// Accepted (everything else that OpenAI defines and the runtime cannot honour is refused with a
// 400 naming the field; fields OpenAI does not define are ignored, as llama-server does):
//   both:  model (required), max_tokens / max_completion_tokens (0..limits.max_tokens),
//          temperature (0..2), top_p (0..1), seed, stop (string or array), n (only 1),
//          stream, stream_options.include_usage, user (the session affinity key)
//          logit_bias ({"<token id>": -100..100}; -100 forbids the token)
//   chat:  messages (roles system, developer (= system), user, assistant (with tool_calls), tool
//          (with tool_call_id); content a string or an array of {"type":"text"} parts; null in
//          an assistant message with tool_calls), logprobs (bool), top_logprobs (0..limit),
//          response_format (text, json_object, json_schema), tools, tool_choice,
//          parallel_tool_calls (docs/serve.md; response_format and tools exclude each other)
//   completions: prompt (string, or an array of exactly one string), logprobs (int 0..limit)
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "inference/gateway/request_limits.hpp"
#include "inference/generate_config.hpp"
#include "inference/types.hpp"

namespace inference::gateway {

enum class Endpoint {
  chat_completions,  // POST /v1/chat/completions
  completions,       // POST /v1/completions
};

struct CompletionRequest {
  Endpoint endpoint = Endpoint::completions;
  std::string model;
  std::string prompt;             // completions
  std::vector<Message> messages;  // chat_completions
  GenerateConfig config;          // max_tokens, temperature, top_p, seed, stop, logprobs, session
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool logprobs = false;       // report log-probabilities per token
  int32_t top_logprobs = 0;    // alternatives per token in the report
};

// Chat with tools whose reply is an envelope (tool_choice other than "none"): the answer is the
// parsed GenerateResult::tool_calls or ::reply, not the streamed text, so streaming buffers it.
bool parses_tool_reply(const CompletionRequest& request);

// Parses and validates `body`. Throws ApiError (400, code "invalid_argument" or
// "invalid_json", param = the field at fault) for anything it refuses. The JSON parser is bounded
// by limits.max_json_depth; the body size is bounded by the caller (limits.max_body_bytes).
// config.logprobs is set to max(top_logprobs, 1) when logprobs are asked for, so the chosen
// token's own probability is among the alternatives the backend returns.
CompletionRequest parse_completion_request(Endpoint endpoint, std::string_view body, const RequestLimits& limits);

}  // namespace inference::gateway
