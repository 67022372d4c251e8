// CompletionChunk: one event of llama-server's streamed `/completion` response, decoded; and
// CompletionChunkParser, which decodes the JSON payloads of one stream into it. Token events
// carry `content` and `tokens`; the final event has `stop: true`, `stop_type`, `timings` and
// `tokens_cached`. An event of the form {"error":{…}} is thrown as ServerError.
// The field meanings are in docs/llama-server-protocol.md.
//
// Ownership: CompletionChunk is a plain value. The parser owns a reusable JSON parser and
// arena, so decoding a stream does not allocate per token once buffers have grown.
// Thread-safety: none for the parser; one per stream, used by one thread (or strand) at a time.
// Cancellation: nothing here blocks or waits.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inference/llama_server/completion_request.hpp"

namespace inference::llama_server {

enum class StopType {
  none,   // not stopped yet, or the server ended the task for another reason
  eos,    // the model produced end-of-sequence (the EOS token itself was streamed)
  limit,  // n_predict reached or the slot's context filled up (then truncated is true)
  word,   // a stop string matched; see stopping_word
};

// Parses llama-server's stop_type string. Throws Error(protocol_error) for an unknown value.
StopType parse_stop_type(std::string_view text);

struct TokenCandidate {
  TokenId id = -1;
  std::string text;
  double logprob = 0.0;  // natural log; converted when the server sent a probability
};

// One generated token's probabilities (requested with n_probs).
struct TokenProbabilities {
  TokenCandidate chosen;
  std::vector<TokenCandidate> top;  // the n_probs most likely candidates, best first
};

struct Timings {
  std::int64_t cache_n = 0;   // prompt tokens reused from the slot's KV cache
  std::int64_t prompt_n = 0;  // prompt tokens evaluated
  double prompt_ms = 0.0;
  double prompt_per_second = 0.0;
  std::int64_t predicted_n = 0;
  double predicted_ms = 0.0;
  double predicted_per_second = 0.0;
};

struct CompletionChunk {
  std::string content;          // UTF-8 text of this chunk; may be empty (EOS, a stop word)
  std::vector<TokenId> tokens;  // ids of this chunk's tokens (needs return_tokens)
  bool stop = false;            // true only on the final chunk
  StopType stop_type = StopType::none;
  std::string stopping_word;  // the stop string that matched (stop_type == word)
  bool truncated = false;     // the context filled up
  std::int32_t id_slot = -1;  // the slot that ran the task; -1 on token chunks
  std::int64_t tokens_predicted = 0;
  std::int64_t tokens_evaluated = 0;
  std::optional<std::int64_t> tokens_cached;      // final chunk: tokens in the slot's KV cache
  std::optional<Timings> timings;                 // final chunk, or every chunk with timings_per_token
  std::vector<TokenProbabilities> probabilities;  // one per token when n_probs > 0
};

class CompletionChunkParser {
 public:
  CompletionChunkParser();
  ~CompletionChunkParser();
  CompletionChunkParser(CompletionChunkParser&&) noexcept;
  CompletionChunkParser& operator=(CompletionChunkParser&&) noexcept;

  // Decodes one event payload into out, reusing out's capacity; every field is overwritten.
  // Throws ServerError for an {"error":…} payload and Error(protocol_error) naming the field
  // for malformed JSON, a missing required field or a field of the wrong type.
  void parse(std::string_view payload, CompletionChunk& out);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inference::llama_server
