// Tests for include/inference/gateway/gateway_metrics.hpp
#include "inference/gateway/gateway_metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <sstream>

namespace inference::gateway {
namespace {

using namespace std::chrono_literals;
using ::testing::Contains;

// The exposition as "name{labels}" -> value, checking every line's shape on the way, and the
// "# TYPE" of each family.
struct Parsed {
  std::map<std::string, std::string> samples;
  std::map<std::string, std::string> types;
  std::vector<std::string> help;

  static Parsed of(const std::string& text) {
    Parsed out;
    std::istringstream lines(text);
    std::string line;
    while (std::getline(lines, line)) {
      if (line.rfind("# HELP ", 0) == 0) {
        out.help.push_back(line.substr(7, line.find(' ', 7) - 7));
      } else if (line.rfind("# TYPE ", 0) == 0) {
        const auto name_end = line.find(' ', 7);
        out.types[line.substr(7, name_end - 7)] = line.substr(name_end + 1);
      } else {
        const auto space = line.rfind(' ');
        EXPECT_NE(space, std::string::npos) << line;
        EXPECT_TRUE(out.samples.emplace(line.substr(0, space), line.substr(space + 1)).second) << "twice: " << line;
      }
    }
    EXPECT_EQ(text.back(), '\n');
    return out;
  }
  std::string at(const std::string& key) const {
    auto it = samples.find(key);
    EXPECT_NE(it, samples.end()) << "no sample " << key;
    return it == samples.end() ? "" : it->second;
  }
};

GenerateMetrics timed(std::chrono::nanoseconds queue_wait, std::chrono::nanoseconds ttft, uint64_t prompt = 3,
                      uint64_t generated = 2) {
  GenerateMetrics metrics;
  metrics.prompt_tokens = prompt;
  metrics.generated_tokens = generated;
  metrics.cached_prompt_tokens = 1;
  metrics.queue_wait = queue_wait;
  metrics.time_to_first_token = ttft;
  metrics.total_time = ttft + 10ms;
  return metrics;
}

TEST(GatewayMetricsTest, RequestsAreCountedByModelEndpointAndOutcome) {
  GatewayMetrics metrics;
  metrics.record_request("tiny", Endpoint::chat_completions, "stop", timed(0ms, 20ms));
  metrics.record_request("tiny", Endpoint::chat_completions, "stop", timed(0ms, 20ms));
  metrics.record_request("tiny", Endpoint::completions, "overloaded", GenerateMetrics{});
  metrics.record_http_response(200);
  metrics.record_http_response(200);
  metrics.record_http_response(429);
  const Parsed parsed = Parsed::of(metrics.render({}));
  EXPECT_EQ(parsed.types.at("inference_requests_total"), "counter");
  EXPECT_EQ(parsed.at(R"(inference_requests_total{model="tiny",endpoint="chat_completions",outcome="stop"})"), "2");
  EXPECT_EQ(parsed.at(R"(inference_requests_total{model="tiny",endpoint="completions",outcome="overloaded"})"), "1");
  EXPECT_EQ(parsed.at(R"(inference_http_responses_total{code="200"})"), "2");
  EXPECT_EQ(parsed.at(R"(inference_http_responses_total{code="429"})"), "1");
  EXPECT_EQ(parsed.at(R"(inference_prompt_tokens_total{model="tiny"})"), "6");
  EXPECT_EQ(parsed.at(R"(inference_completion_tokens_total{model="tiny"})"), "4");
  EXPECT_EQ(parsed.at(R"(inference_cached_prompt_tokens_total{model="tiny"})"), "2");
}

TEST(GatewayMetricsTest, HistogramBucketsAreCumulativeWithInfSumAndCount) {
  GatewayMetrics metrics;
  metrics.record_request("m", Endpoint::completions, "stop", timed(1ms, 3ms));     // le 0.005
  metrics.record_request("m", Endpoint::completions, "stop", timed(1ms, 5ms));     // le 0.005: bounds are inclusive
  metrics.record_request("m", Endpoint::completions, "length", timed(1ms, 70ms));  // le 0.1
  metrics.record_request("m", Endpoint::completions, "stop", timed(1ms, 2min));    // only +Inf
  const Parsed parsed = Parsed::of(metrics.render({}));
  const std::string name = "inference_time_to_first_token_seconds";
  EXPECT_EQ(parsed.types.at(name), "histogram");
  const auto bucket = [&](const std::string& le) { return parsed.at(name + R"(_bucket{model="m",le=")" + le + "\"}"); };
  EXPECT_EQ(bucket("0.005"), "2");
  EXPECT_EQ(bucket("0.05"), "2");
  EXPECT_EQ(bucket("0.1"), "3");
  EXPECT_EQ(bucket("60"), "3");
  EXPECT_EQ(bucket("+Inf"), "4");
  EXPECT_EQ(parsed.at(name + R"(_count{model="m"})"), "4");
  EXPECT_DOUBLE_EQ(std::stod(parsed.at(name + R"(_sum{model="m"})")), 0.003 + 0.005 + 0.07 + 120);
  // Every bound of kLatencyBuckets has its line, in order, and the counts never decrease.
  uint64_t previous = 0;
  for (const double bound : kLatencyBuckets) {
    std::ostringstream le;
    le << bound;
    const uint64_t count = std::stoull(bucket(le.str()));
    EXPECT_GE(count, previous) << "le=" << le.str();
    previous = count;
  }
  EXPECT_EQ(parsed.at(R"(inference_queue_wait_seconds_count{model="m"})"), "4");
}

TEST(GatewayMetricsTest, RequestsThatNeverRanAddNoLatencyObservation) {
  GatewayMetrics metrics;
  metrics.record_request("m", Endpoint::completions, "invalid_argument", GenerateMetrics{});
  metrics.record_request("m", Endpoint::completions, "cancelled", timed(2ms, 0ms, 3, 0));  // queued, no token
  const Parsed parsed = Parsed::of(metrics.render({}));
  EXPECT_EQ(parsed.at(R"(inference_queue_wait_seconds_count{model="m"})"), "1");
  EXPECT_EQ(parsed.at(R"(inference_time_to_first_token_seconds_count{model="m"})"), "0");
}

TEST(GatewayMetricsTest, LabelValuesAreEscaped) {
  GatewayMetrics metrics;
  metrics.record_request("a\\b\"c\nd", Endpoint::completions, "stop", timed(1ms, 1ms));
  const std::string text = metrics.render({});
  const Parsed parsed = Parsed::of(text);
  EXPECT_EQ(parsed.at(R"(inference_requests_total{model="a\\b\"c\nd",endpoint="completions",outcome="stop"})"), "1");
  EXPECT_EQ(text.find("a\\b\"c\nd"), std::string::npos) << "a raw line break or quote in a label";
}

TEST(GatewayMetricsTest, ModelGaugesComeFromThePoolStatus) {
  ModelStatus loaded;
  loaded.name = "up";
  loaded.state = ModelState::loaded;
  loaded.stats = ModelStats{};
  loaded.stats->slots_total = 4;
  loaded.stats->slots_busy = 3;
  loaded.stats->queue_depth = 7;
  loaded.restarts_total = 2;
  loaded.in_flight = 5;
  ModelStatus idle;
  idle.name = "down";
  idle.state = ModelState::unloaded;
  idle.restarts_total = 1;
  const Parsed parsed = Parsed::of(GatewayMetrics().render({loaded, idle}));
  EXPECT_EQ(parsed.types.at("inference_slots_busy"), "gauge");
  EXPECT_EQ(parsed.types.at("inference_restarts_total"), "counter");
  EXPECT_EQ(parsed.at(R"(inference_slots_total{model="up"})"), "4");
  EXPECT_EQ(parsed.at(R"(inference_slots_busy{model="up"})"), "3");
  EXPECT_EQ(parsed.at(R"(inference_queue_depth{model="up"})"), "7");
  EXPECT_EQ(parsed.at(R"(inference_model_loaded{model="up"})"), "1");
  EXPECT_EQ(parsed.at(R"(inference_model_in_flight{model="up"})"), "5");
  EXPECT_EQ(parsed.at(R"(inference_restarts_total{model="up"})"), "2");
  EXPECT_EQ(parsed.at(R"(inference_slots_total{model="down"})"), "0");
  EXPECT_EQ(parsed.at(R"(inference_model_loaded{model="down"})"), "0");
  EXPECT_EQ(parsed.at(R"(inference_restarts_total{model="down"})"), "1");
  EXPECT_EQ(parsed.at(R"(inference_model_state{model="up",state="loaded"})"), "1");
  EXPECT_EQ(parsed.at(R"(inference_model_state{model="up",state="unloaded"})"), "0");
  EXPECT_EQ(parsed.at(R"(inference_model_state{model="down",state="unloaded"})"), "1");
  // A served model has its token counters and histograms before its first request.
  EXPECT_EQ(parsed.at(R"(inference_prompt_tokens_total{model="down"})"), "0");
  EXPECT_EQ(parsed.at(R"(inference_queue_wait_seconds_bucket{model="down",le="+Inf"})"), "0");
}

TEST(GatewayMetricsTest, ReplicasAndPlacementHitsComeFromTheModelStats) {
  ModelStatus loaded;
  loaded.name = "two";
  loaded.state = ModelState::loaded;
  loaded.stats = ModelStats{};
  loaded.stats->prefix_hits = 9;
  loaded.stats->affinity_hits = 4;
  ReplicaStats serving;
  serving.slots_busy = 2;
  serving.requests_total = 11;
  ReplicaStats restarting;
  restarting.state = ReplicaState::restarting;
  restarting.restarts = 1;
  loaded.stats->replicas = {serving, restarting};
  const Parsed parsed = Parsed::of(GatewayMetrics().render({loaded}));
  EXPECT_EQ(parsed.at(R"(inference_prefix_hits_total{model="two"})"), "9");
  EXPECT_EQ(parsed.at(R"(inference_affinity_hits_total{model="two"})"), "4");
  EXPECT_EQ(parsed.at(R"(inference_replica_slots_busy{model="two",replica="0"})"), "2");
  EXPECT_EQ(parsed.at(R"(inference_replica_requests_total{model="two",replica="0"})"), "11");
  EXPECT_EQ(parsed.at(R"(inference_replica_serving{model="two",replica="0"})"), "1");
  EXPECT_EQ(parsed.at(R"(inference_replica_serving{model="two",replica="1"})"), "0");
  EXPECT_EQ(parsed.at(R"(inference_replica_restarts_total{model="two",replica="1"})"), "1");
  EXPECT_EQ(parsed.types.at("inference_replica_restarts_total"), "counter");
}

TEST(GatewayMetricsTest, EveryFamilyHasOneHelpAndTypeLine) {
  GatewayMetrics metrics;
  metrics.record_request("m", Endpoint::completions, "stop", timed(1ms, 1ms));
  const Parsed parsed = Parsed::of(metrics.render({}));
  for (const char* family :
       {"inference_requests_total", "inference_http_responses_total", "inference_prompt_tokens_total",
        "inference_completion_tokens_total", "inference_cached_prompt_tokens_total",
        "inference_time_to_first_token_seconds", "inference_queue_wait_seconds", "inference_queue_depth",
        "inference_slots_busy", "inference_slots_total", "inference_model_loaded", "inference_restarts_total"}) {
    EXPECT_EQ(std::count(parsed.help.begin(), parsed.help.end(), family), 1) << family;
    EXPECT_TRUE(parsed.types.count(family)) << family;
  }
  EXPECT_THAT(parsed.help, Contains("inference_model_state"));
}

}  // namespace
}  // namespace inference::gateway
