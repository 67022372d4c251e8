// The bounds the gateway puts on what a client may send. Every one is configurable (llmctl serve
// flags) and every one refused gives a 4xx naming the limit, never a crash or an allocation the
// client controls.
#pragma once

#include <cstddef>
#include <cstdint>

namespace inference::gateway {

struct RequestLimits {
  std::size_t max_body_bytes = 4u << 20;     // 413 beyond
  std::size_t max_header_bytes = 16u << 10;  // 431 beyond (request line and all header fields)
  std::size_t max_json_depth = 32;           // nesting of arrays and objects in a body
  std::size_t max_messages = 1024;           // chat messages per request
  int32_t max_tokens = 32768;                // the largest max_tokens a request may ask for
  std::size_t max_stop_strings = 16;         // OpenAI allows 4; llama-server has no limit
  int32_t max_top_logprobs = 20;             // OpenAI's own limit
};

}  // namespace inference::gateway
