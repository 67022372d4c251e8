// Value types shared by every backend: tokens, chat messages, finish reasons and metrics.
// All are plain values: copyable, movable, safe to hand between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace inference {

// One alternative the model considered for a position, when GenerateConfig::logprobs is on.
struct TokenProbability {
  int32_t id = -1;
  std::string text;
  double probability = 0.0;  // in [0, 1]
};

struct Token {
  // The model's vocabulary id; -1 where the backend cannot know it (llama-server does not
  // report the id of a token it held back because it ends inside a UTF-8 character: such a
  // token comes with empty text, just before the token whose text completes the character).
  int32_t id = -1;
  std::string text;
  std::vector<TokenProbability> top;  // top-N alternatives; empty unless logprobs > 0
};

struct Message {
  std::string role;  // "system", "user", "assistant"
  std::string content;
};

enum class FinishReason {
  length,     // max_tokens reached
  stop,       // a stop string or stop token matched
  eos,        // the model produced end-of-sequence
  cancelled,  // cancel(), destruction of the stream, or Asio cancellation
  error,      // see GenerateResult::error
};

std::string_view to_string(FinishReason reason) noexcept;

struct GenerateMetrics {
  uint64_t prompt_tokens = 0;  // as counted by the backend (the server, for llama-server)
  uint64_t generated_tokens = 0;
  uint64_t cached_prompt_tokens = 0;                // prompt tokens served from the slot's KV cache
  std::chrono::nanoseconds queue_wait{0};           // waiting for a slot
  std::chrono::nanoseconds time_to_first_token{0};  // from the request to the first token
  std::chrono::nanoseconds total_time{0};           // from the request to the end
  double prefill_tokens_per_s = 0.0;
  double decode_tokens_per_s = 0.0;
};

struct GenerateResult {
  FinishReason finish_reason = FinishReason::error;
  GenerateMetrics metrics;
  std::error_code error;      // set exactly when finish_reason == error
  std::string error_message;  // one line, with context, when error is set (the Error's what())
  std::string error_detail;   // the Error's detail(): e.g. the server's last lines; often empty
};

// classify(): the single next token for a prompt and the top alternatives.
struct ClassifyResult {
  Token token;
  GenerateResult result;
};

// batch_generate(): the whole text of one prompt's generation.
struct BatchResult {
  std::string text;
  std::vector<Token> tokens;
  GenerateResult result;
};

struct ModelStats {
  uint32_t slots_total = 0;
  uint32_t slots_busy = 0;
  uint64_t queue_depth = 0;
  uint64_t max_in_flight = 0;      // high-water mark of busy slots since load
  uint64_t requests_total = 0;     // admitted requests
  uint64_t requests_rejected = 0;  // refused with overloaded
  uint64_t tokens_served = 0;
  uint64_t restarts = 0;  // backend restarts (server processes relaunched)
  bool failed = false;    // the model gave up (e.g. restart budget exhausted)
};

}  // namespace inference
