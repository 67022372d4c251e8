// tools/llmctl/bench_report.cpp: the per-replica figures and prefix-cache counters of
// `llmctl bench`, in the JSON report and the table, from a model's stats and a run's streams.
#include "bench_report.hpp"

#include <gtest/gtest.h>

#include <boost/json/value.hpp>
#include <cstdio>
#include <string>

#include "inference/error.hpp"

namespace {

using llmctl::BenchReport;

inference::GenerateResult served(int32_t replica, int32_t slot, uint64_t prompt, uint64_t cached, uint64_t tokens) {
  inference::GenerateResult result;
  result.finish_reason = inference::FinishReason::length;
  result.metrics.replica = replica;
  result.metrics.slot = slot;
  result.metrics.prompt_tokens = prompt;
  result.metrics.cached_prompt_tokens = cached;
  result.metrics.generated_tokens = tokens;
  return result;
}

inference::ReplicaStats replica_stats(inference::ReplicaState state, uint64_t requests, uint64_t restarts) {
  inference::ReplicaStats replica;
  replica.state = state;
  replica.slots_total = 2;
  replica.requests_total = requests;
  replica.max_in_flight = 2;
  replica.tokens_served = requests * 4;
  replica.restarts = restarts;
  return replica;
}

// Two replicas: replica 0 served two requests, replica 1 one and lost one to a crash.
BenchReport two_replica_report() {
  BenchReport report;
  report.settings.backend = "llama_cpp";
  report.settings.slots = 2;
  report.stats.record_success(served(0, 0, 100, 0, 4));
  report.stats.record_success(served(0, 1, 100, 90, 4));
  report.stats.record_success(served(1, 0, 100, 95, 4));
  report.stats.record_failure(make_error_code(inference::errc::child_exited), 1);
  report.model_stats.slots_total = 4;
  report.model_stats.prefix_hits = 2;
  report.model_stats.affinity_hits = 1;
  report.model_stats.restarts = 1;
  report.model_stats.replicas = {replica_stats(inference::ReplicaState::serving, 2, 0),
                                 replica_stats(inference::ReplicaState::restarting, 2, 1)};
  report.model_stats.replicas[1].device = "GPU 1";
  return report;
}

std::string table_of(const BenchReport& report) {
  char* buffer = nullptr;
  std::size_t size = 0;
  std::FILE* out = ::open_memstream(&buffer, &size);
  llmctl::print_table(report, out);
  std::fclose(out);
  std::string text(buffer, size);
  std::free(buffer);
  return text;
}

TEST(BenchReportJson, ListsEveryReplicaWithTheModelsCountersAndWhatTheStreamsReportedFromIt) {
  const auto json = llmctl::to_json(two_replica_report());
  const auto& replicas = json.at("replicas").as_array();
  ASSERT_EQ(replicas.size(), 2U);
  const auto& first = replicas[0].as_object();
  EXPECT_EQ(first.at("replica").to_number<int>(), 0);
  EXPECT_EQ(first.at("state").as_string(), "serving");
  EXPECT_EQ(first.at("slots").to_number<int>(), 2);
  EXPECT_EQ(first.at("requests").to_number<int>(), 2);
  EXPECT_EQ(first.at("max_in_flight").to_number<int>(), 2);
  EXPECT_EQ(first.at("tokens").to_number<int>(), 8);
  EXPECT_EQ(first.at("restarts").to_number<int>(), 0);
  EXPECT_EQ(first.at("completed").to_number<int>(), 2);
  EXPECT_EQ(first.at("errors").to_number<int>(), 0);
  EXPECT_EQ(first.at("cached_prompt_tokens").to_number<int>(), 90);
  const auto& second = replicas[1].as_object();
  EXPECT_EQ(second.at("state").as_string(), "restarting");
  EXPECT_EQ(second.at("device").as_string(), "GPU 1");
  EXPECT_EQ(second.at("restarts").to_number<int>(), 1);
  EXPECT_EQ(second.at("completed").to_number<int>(), 1);
  EXPECT_EQ(second.at("errors").to_number<int>(), 1);
  EXPECT_EQ(second.at("cached_prompt_tokens").to_number<int>(), 95);
}

TEST(BenchReportJson, TotalsPromptAndCachedTokensAndCarriesThePlacementCounters) {
  const auto json = llmctl::to_json(two_replica_report());
  EXPECT_EQ(json.at("prompt_tokens").to_number<int>(), 300);
  EXPECT_EQ(json.at("cached_prompt_tokens").to_number<int>(), 185);
  EXPECT_EQ(json.at("prefix_hits").to_number<int>(), 2);
  EXPECT_EQ(json.at("affinity_hits").to_number<int>(), 1);
  EXPECT_EQ(json.at("restarts").to_number<int>(), 1);
  EXPECT_EQ(json.at("slots").to_number<int>(), 2);
  EXPECT_EQ(json.at("slots_total").to_number<int>(), 4);
}

TEST(BenchReportJson, HostCpuPerRequestCountsFailedRequestsToo) {
  auto report = two_replica_report();
  report.host_cpu_s = 0.004;
  EXPECT_DOUBLE_EQ(llmctl::to_json(report).at("host_cpu_us_per_request").to_number<double>(), 1000.0);
}

TEST(BenchReportJson, ABackendWithoutReplicasGivesAnEmptyList) {
  BenchReport report;
  report.settings.backend = "stub";
  report.stats.record_success(served(-1, -1, 10, 0, 4));
  const auto json = llmctl::to_json(report);
  EXPECT_TRUE(json.at("replicas").as_array().empty());
}

TEST(BenchReportTable, HasALinePerReplicaWithItsStateDeviceAndFigures) {
  const auto text = table_of(two_replica_report());
  EXPECT_NE(text.find("replica 0"), std::string::npos) << text;
  EXPECT_NE(text.find("restarting on GPU 1"), std::string::npos) << text;
  EXPECT_NE(text.find("1 done, 1 failed, 95 cached prompt tokens"), std::string::npos) << text;
  EXPECT_NE(text.find("300 (185 cached"), std::string::npos) << text;
  EXPECT_NE(text.find("2 prefix hits, 1 affinity hits"), std::string::npos) << text;
}

TEST(BenchReportTable, SaysSoWhenTheBackendReportsNoReplicas) {
  BenchReport report;
  report.settings.backend = "stub";
  const auto text = table_of(report);
  EXPECT_NE(text.find("none reported by backend 'stub'"), std::string::npos) << text;
}

// Issue 16: which context the model serves and why, in both forms; nothing when the backend says nothing.
TEST(BenchReportJson, CarriesTheContextServedAndWhy) {
  BenchReport report;
  report.context_per_slot = 22784;
  report.context_reason = "22784 tokens per slot (4 slots): the most that fits GPU 0 (gfx1100) (...)";
  report.device = "GPU 0 (gfx1100)";
  const auto json = llmctl::to_json(report);
  EXPECT_EQ(json.at("context_per_slot").to_number<uint64_t>(), 22784U);
  EXPECT_EQ(json.at("context_reason").as_string(), report.context_reason);
  EXPECT_EQ(json.at("device").as_string(), "GPU 0 (gfx1100)");
  EXPECT_NE(table_of(report).find("context   "), std::string::npos) << table_of(report);
  EXPECT_NE(table_of(report).find(report.context_reason + "; on GPU 0 (gfx1100)"), std::string::npos)
      << table_of(report);
  EXPECT_EQ(table_of(BenchReport{}).find("context   "), std::string::npos) << table_of(BenchReport{});
}

}  // namespace
