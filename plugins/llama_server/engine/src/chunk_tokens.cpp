#include "inference/llama_server/chunk_tokens.hpp"

#include <algorithm>
#include <cmath>
#include <utility>

namespace inference::llama_server {

void ChunkTokens::begin(CompletionChunk& chunk) {
  chunk_ = &chunk;
  index_ = 0;
  held_ = 0;
  if (chunk.tokens_predicted <= 0) return;  // a server that does not count: nothing to infer
  // Generated before this chunk's listed ids without being listed; at most kMaxHeldTokens, so a
  // corrupt count cannot make the reader run away.
  const int64_t gap = chunk.tokens_predicted - server_count_ - static_cast<int64_t>(chunk.tokens.size());
  server_count_ = chunk.tokens_predicted;
  held_ = static_cast<uint64_t>(std::clamp<int64_t>(gap, 0, kMaxHeldTokens));
}

std::optional<Token> ChunkTokens::next() {
  if (held_ > 0) {
    --held_;
    return Token{};
  }
  if (stopped_ || index_ == chunk_->tokens.size()) return std::nullopt;
  const std::size_t index = index_++;
  Token token;
  token.id = chunk_->tokens[index];
  if (std::find(stop_tokens_.begin(), stop_tokens_.end(), token.id) != stop_tokens_.end()) {
    stopped_ = true;
    return std::nullopt;
  }
  if (index + 1 == chunk_->tokens.size()) token.text = std::move(chunk_->content);
  if (index < chunk_->probabilities.size()) {
    for (const auto& candidate : chunk_->probabilities[index].top) {
      token.top.push_back(TokenProbability{candidate.id, candidate.text, std::exp(candidate.logprob)});
    }
  }
  return token;
}

FinishReason finish_reason_of(StopType stop) {
  switch (stop) {
    case StopType::eos:
      return FinishReason::eos;
    case StopType::word:
      return FinishReason::stop;
    case StopType::limit:
      return FinishReason::length;
    case StopType::none:
      break;
  }
  return FinishReason::stop;
}

void record_final_metrics(GenerateMetrics& metrics, const CompletionChunk& chunk, uint64_t delivered) {
  if (chunk.timings) {
    metrics.cached_prompt_tokens = static_cast<uint64_t>(chunk.timings->cache_n);
    metrics.prefill_tokens_per_s = chunk.timings->prompt_per_second;
    metrics.decode_tokens_per_s = chunk.timings->predicted_per_second;
  }
  metrics.prompt_tokens = static_cast<uint64_t>(chunk.tokens_evaluated);
  metrics.generated_tokens = delivered;
}

}  // namespace inference::llama_server
