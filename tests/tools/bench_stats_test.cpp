// tools/llmctl/bench_stats.cpp: the percentiles and counters behind `llmctl bench`.
#include "bench_stats.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <numeric>

#include "inference/error.hpp"

namespace {

using llmctl::BenchStats;
using llmctl::percentile;

TEST(BenchPercentile, IsTheNearestRankOfTheSortedSamples) {
  std::vector<double> samples(100);
  std::iota(samples.rbegin(), samples.rend(), 1.0);  // 100 .. 1, unsorted on purpose
  EXPECT_EQ(percentile(samples, 0.50), 50.0);
  EXPECT_EQ(percentile(samples, 0.99), 99.0);
  EXPECT_EQ(percentile(samples, 1.0), 100.0);
  EXPECT_EQ(percentile(samples, 0.0), 1.0);
}

TEST(BenchPercentile, OfOneSampleIsThatSampleAndOfNoneIsZero) {
  EXPECT_EQ(percentile({7.5}, 0.5), 7.5);
  EXPECT_EQ(percentile({7.5}, 0.99), 7.5);
  EXPECT_EQ(percentile({}, 0.5), 0.0);
}

TEST(BenchPercentile, ClampsFractionsOutsideZeroToOne) {
  EXPECT_EQ(percentile({1.0, 2.0, 3.0}, -1.0), 1.0);
  EXPECT_EQ(percentile({1.0, 2.0, 3.0}, 2.0), 3.0);
}

TEST(BenchStatsTest, RecordsLatenciesInMillisecondsAndFailuresByCodeName) {
  BenchStats stats;
  inference::GenerateResult result;
  result.finish_reason = inference::FinishReason::length;
  result.metrics.time_to_first_token = std::chrono::microseconds(1500);
  result.metrics.queue_wait = std::chrono::milliseconds(2);
  stats.record_success(result);
  stats.record_token();
  stats.record_token();
  stats.record_failure(make_error_code(inference::errc::child_exited));
  stats.record_failure(make_error_code(inference::errc::child_exited));

  EXPECT_EQ(stats.completed(), 1U);
  EXPECT_EQ(stats.errors(), 2U);
  EXPECT_EQ(stats.tokens(), 2U);
  ASSERT_EQ(stats.ttft_ms().size(), 1U);
  EXPECT_DOUBLE_EQ(stats.ttft_ms().front(), 1.5);
  EXPECT_DOUBLE_EQ(stats.queue_ms().front(), 2.0);
  EXPECT_EQ(stats.errors_by_code().at("child_exited"), 2U);
}

TEST(BenchStatsTest, TalliesEachReplicasRequestsTokensAndCachedPromptTokens) {
  BenchStats stats;
  inference::GenerateResult result;
  result.finish_reason = inference::FinishReason::length;
  result.metrics.prompt_tokens = 100;
  result.metrics.generated_tokens = 8;
  result.metrics.replica = 1;
  result.metrics.cached_prompt_tokens = 60;
  stats.record_success(result);
  result.metrics.cached_prompt_tokens = 90;
  stats.record_success(result);
  result.metrics.replica = 0;
  result.metrics.cached_prompt_tokens = 0;
  stats.record_success(result);
  stats.record_failure(make_error_code(inference::errc::child_exited), 1);
  stats.record_failure(make_error_code(inference::errc::overloaded));  // never had a slot

  EXPECT_EQ(stats.prompt_tokens(), 300U);
  EXPECT_EQ(stats.cached_prompt_tokens(), 150U);
  const auto& by_replica = stats.by_replica();
  ASSERT_EQ(by_replica.size(), 3U);
  EXPECT_EQ(by_replica.at(0).completed, 1U);
  EXPECT_EQ(by_replica.at(1).completed, 2U);
  EXPECT_EQ(by_replica.at(1).errors, 1U);
  EXPECT_EQ(by_replica.at(1).generated_tokens, 16U);
  EXPECT_EQ(by_replica.at(1).cached_prompt_tokens, 150U);
  EXPECT_EQ(by_replica.at(-1).errors, 1U);
}

}  // namespace
