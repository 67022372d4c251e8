// ChunkTokens: what the chunks of one /completion stream deliver to a TokenStream's reader, with
// no I/O: LlamaServerModel's read loop drives it, tests feed it chunks.
//
// One Token per generated id. llama-server holds back a token that ends inside a UTF-8 character
// and sends its bytes with the token that completes the character, in one chunk that lists only
// that last id: the held ones show only in tokens_predicted. They are delivered as Tokens with
// id -1 and empty text, before the one carrying the text. (A final token that ends inside a
// character is never sent at all: it arrives the same way, with the final chunk.) Should a server
// list several ids in one chunk, the text goes on the last of them. A stop token (one of
// GenerateConfig::stop_tokens) ends the stream: neither it nor anything after it is delivered.
//
// Ownership: borrows the stop-token list and the current chunk, which must outlive their use.
// Thread-safety: none; one per stream. Cancellation: not applicable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "inference/llama_server/completion_chunk.hpp"
#include "inference/types.hpp"

namespace inference::llama_server {

// A UTF-8 character is at most 4 bytes, so at most 3 tokens can be held back inside one.
inline constexpr int64_t kMaxHeldTokens = 3;

class ChunkTokens {
 public:
  explicit ChunkTokens(std::span<const TokenId> stop_tokens) : stop_tokens_(stop_tokens) {}

  // Starts on the stream's next chunk; next() moves its content and probabilities out.
  void begin(CompletionChunk& chunk);
  // The chunk's next Token, or std::nullopt once its tokens are out or a stop token came.
  std::optional<Token> next();
  // True once a stop token came: the stream ends here.
  bool stopped() const noexcept { return stopped_; }

 private:
  std::span<const TokenId> stop_tokens_;
  CompletionChunk* chunk_ = nullptr;
  int64_t server_count_ = 0;  // tokens_predicted of the last chunk
  uint64_t held_ = 0;         // held-back tokens of the current chunk still to deliver
  std::size_t index_ = 0;     // the current chunk's next listed id
  bool stopped_ = false;
};

// How the server's final chunk says the generation ended.
FinishReason finish_reason_of(StopType stop);

// The server's own figures from its final chunk. generated_tokens is `delivered`, what the reader
// received, which counts held-back tokens like the server does.
void record_final_metrics(GenerateMetrics& metrics, const CompletionChunk& chunk, uint64_t delivered);

}  // namespace inference::llama_server
