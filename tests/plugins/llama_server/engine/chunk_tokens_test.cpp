// What /completion chunks deliver to the reader, without a server: one Token per id, held-back
// tokens before the one that completes their character, the text on a chunk's last id, stop
// tokens, and the final chunk's reason and figures.
#include "inference/llama_server/chunk_tokens.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <string>
#include <vector>

namespace inference::llama_server {
namespace {

CompletionChunk chunk_of(std::vector<TokenId> ids, std::string content, int64_t tokens_predicted) {
  CompletionChunk chunk;
  chunk.tokens = std::move(ids);
  chunk.content = std::move(content);
  chunk.tokens_predicted = tokens_predicted;
  return chunk;
}

std::vector<Token> drain(ChunkTokens& tokens, CompletionChunk& chunk) {
  std::vector<Token> out;
  tokens.begin(chunk);
  while (std::optional<Token> token = tokens.next()) out.push_back(std::move(*token));
  return out;
}

TEST(ChunkTokens, OneTokenPerIdWithTheChunksText) {
  ChunkTokens tokens({});
  CompletionChunk first = chunk_of({11}, "Hel", 1);
  CompletionChunk second = chunk_of({12}, "lo", 2);
  const auto a = drain(tokens, first);
  const auto b = drain(tokens, second);
  ASSERT_EQ(a.size(), 1U);
  ASSERT_EQ(b.size(), 1U);
  EXPECT_EQ(a[0].id, 11);
  EXPECT_EQ(a[0].text, "Hel");
  EXPECT_EQ(b[0].id, 12);
  EXPECT_EQ(b[0].text, "lo");
  EXPECT_FALSE(tokens.stopped());
}

TEST(ChunkTokens, HeldBackTokensComeFirstWithoutIdOrText) {
  ChunkTokens tokens({});
  CompletionChunk first = chunk_of({5}, "a", 1);
  drain(tokens, first);
  // Two tokens ended inside a character; the third completes it and carries all its bytes.
  CompletionChunk completing = chunk_of({9}, "\xE2\x82\xAC", 4);
  const auto out = drain(tokens, completing);
  ASSERT_EQ(out.size(), 3U);
  EXPECT_EQ(out[0].id, -1);
  EXPECT_EQ(out[0].text, "");
  EXPECT_EQ(out[1].id, -1);
  EXPECT_EQ(out[2].id, 9);
  EXPECT_EQ(out[2].text, "\xE2\x82\xAC");
}

TEST(ChunkTokens, ACorruptCountHoldsBackAtMostThreeTokens) {
  ChunkTokens tokens({});
  CompletionChunk chunk = chunk_of({1}, "x", 1'000);
  EXPECT_EQ(drain(tokens, chunk).size(), static_cast<std::size_t>(kMaxHeldTokens) + 1);
}

TEST(ChunkTokens, AServerThatDoesNotCountHoldsNothingBack) {
  ChunkTokens tokens({});
  CompletionChunk chunk = chunk_of({1, 2}, "xy", 0);
  const auto out = drain(tokens, chunk);
  ASSERT_EQ(out.size(), 2U);
  EXPECT_EQ(out[0].text, "") << "the text goes on the last id";
  EXPECT_EQ(out[1].text, "xy");
}

TEST(ChunkTokens, AStopTokenEndsTheStreamBeforeItself) {
  const std::vector<TokenId> stop = {7};
  ChunkTokens tokens(stop);
  CompletionChunk chunk = chunk_of({3, 7, 4}, "abc", 3);
  const auto out = drain(tokens, chunk);
  ASSERT_EQ(out.size(), 1U);
  EXPECT_EQ(out[0].id, 3);
  EXPECT_TRUE(tokens.stopped());
}

TEST(ChunkTokens, ProbabilitiesTravelWithTheirToken) {
  ChunkTokens tokens({});
  CompletionChunk chunk = chunk_of({3}, "a", 1);
  TokenProbabilities probabilities;
  probabilities.top.push_back(TokenCandidate{3, "a", std::log(0.75)});
  chunk.probabilities.push_back(probabilities);
  const auto out = drain(tokens, chunk);
  ASSERT_EQ(out.size(), 1U);
  ASSERT_EQ(out[0].top.size(), 1U);
  EXPECT_EQ(out[0].top[0].id, 3);
  EXPECT_NEAR(out[0].top[0].probability, 0.75, 1e-9);
}

TEST(ChunkTokens, TheFinalChunkGivesTheReasonAndTheServersFigures) {
  EXPECT_EQ(finish_reason_of(StopType::eos), FinishReason::eos);
  EXPECT_EQ(finish_reason_of(StopType::word), FinishReason::stop);
  EXPECT_EQ(finish_reason_of(StopType::limit), FinishReason::length);
  CompletionChunk final_chunk;
  final_chunk.stop = true;
  final_chunk.tokens_evaluated = 5;
  final_chunk.timings = Timings{.cache_n = 2, .prompt_per_second = 100.0, .predicted_per_second = 50.0};
  GenerateMetrics metrics;
  record_final_metrics(metrics, final_chunk, 9);
  EXPECT_EQ(metrics.prompt_tokens, 5U);
  EXPECT_EQ(metrics.generated_tokens, 9U);
  EXPECT_EQ(metrics.cached_prompt_tokens, 2U);
  EXPECT_DOUBLE_EQ(metrics.prefill_tokens_per_s, 100.0);
  EXPECT_DOUBLE_EQ(metrics.decode_tokens_per_s, 50.0);
}

}  // namespace
}  // namespace inference::llama_server
