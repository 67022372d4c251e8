// Value types shared by every backend: tokens, chat messages, finish reasons and metrics.
// All are plain values: copyable, movable, safe to hand between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "inference/tools.hpp"

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
  std::string role;  // "system", "user", "assistant", "tool"
  std::string content;
  // Default member initialisers keep Message{"user", "hi"} free of missing-initializer warnings.
  std::vector<ToolCall> tool_calls{};  // role "assistant": the calls it made (content may be empty)
  std::string tool_call_id{};          // role "tool": the ToolCall::id this message answers
};

enum class FinishReason {
  length,      // max_tokens reached
  stop,        // a stop string or stop token matched
  eos,         // the model produced end-of-sequence
  cancelled,   // cancel(), destruction of the stream, or Asio cancellation
  error,       // see GenerateResult::error
  tool_calls,  // chat() with tools: the model called tools (GenerateResult::tool_calls)
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
  // Where the request ran: the replica (server process) and its slot; -1 until it had a slot, or
  // when the backend has no such notion.
  int32_t replica = -1;
  int32_t slot = -1;
};

struct GenerateResult {
  FinishReason finish_reason = FinishReason::error;
  GenerateMetrics metrics;
  std::error_code error;      // set exactly when finish_reason == error
  std::string error_message;  // one line, with context, when error is set (the Error's what())
  std::string error_detail;   // the Error's detail(): e.g. the server's last lines; often empty
  // chat() with tools offered (GenerateConfig::tools): what the reply meant. The streamed tokens
  // are what the model wrote (for the llama-server engine, a JSON envelope); these are it parsed.
  std::vector<ToolCall> tool_calls;  // set exactly when finish_reason == tool_calls
  std::string reply;                 // the model answered in words: those words (finish_reason stop/eos/length)
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

// embed(): one input's vector, in the order of the inputs.
struct Embedding {
  std::vector<float> values;   // ModelInfo::embedding_length values (normalised as the backend documents)
  uint64_t prompt_tokens = 0;  // the input's length in tokens
};

// rerank(): one document's relevance to the query, in the order of the documents.
struct RerankScore {
  uint32_t index = 0;  // the document's position in the input
  double score = 0.0;  // higher is more relevant; comparable within one call only
};

// One replica of a model (one server process, e.g. one per GPU), in ModelStats::replicas.
enum class ReplicaState {
  serving,     // takes requests
  restarting,  // crashed or hung; its restart is under way
  replacing,   // reload(): draining, or its successor is starting
  failed,      // restart budget spent, or its device is gone: it takes no requests any more
  stopped,     // the model was closed
};

std::string_view to_string(ReplicaState state) noexcept;

struct ReplicaStats {
  ReplicaState state = ReplicaState::serving;
  std::string device;  // what it runs on, e.g. "GPU 1 (gfx1100)"; empty when the backend says nothing
  std::string reason;  // why it is failed (one line); empty otherwise
  int process_id = 0;  // its server's pid; 0 while none runs
  uint32_t slots_total = 0;
  uint32_t slots_busy = 0;
  uint64_t requests_total = 0;  // admitted on it
  uint64_t max_in_flight = 0;
  uint64_t tokens_served = 0;
  uint64_t restarts = 0;
};

struct ModelStats {
  uint32_t slots_total = 0;
  uint32_t slots_busy = 0;
  uint64_t queue_depth = 0;
  uint64_t max_in_flight = 0;      // high-water mark of busy slots since load
  uint64_t requests_total = 0;     // admitted requests
  uint64_t requests_rejected = 0;  // refused with overloaded
  uint64_t tokens_served = 0;
  uint64_t restarts = 0;       // backend restarts (server processes relaunched), over every replica
  bool failed = false;         // the model gave up (e.g. restart budget exhausted on every replica)
  uint64_t affinity_hits = 0;  // requests placed on their session's previous slot
  uint64_t prefix_hits = 0;    // requests placed on a slot that had processed their prompt's prefix
  // Per replica, in replica order; empty for a backend without replicas (the stub).
  std::vector<ReplicaStats> replicas;
};

}  // namespace inference
