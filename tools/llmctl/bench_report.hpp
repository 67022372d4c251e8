// BenchReport: the outcome of one `llmctl bench` run, as one JSON object for scripts or as a
// readable table. Field names of the JSON are a stable interface.
#pragma once

#include <boost/json/object.hpp>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "bench_stats.hpp"
#include "inference/types.hpp"

namespace llmctl {

struct BenchSettings {
  std::string backend;
  std::string model;
  uint32_t slots = 0;
  uint32_t concurrency = 0;
  uint32_t requests = 0;
  int32_t max_tokens = 0;
  uint32_t prompt_words = 0;
  uint32_t shared_prefix_words = 0;  // 0: the bench's default prompts
};

struct BenchReport {
  BenchSettings settings;
  double load_ms = 0.0;  // loading the model, before the first request
  // When the server printed "listening on ..." counted from the same start as load_ms (only for
  // backends with a child server that logs it): load_ms minus this is what readiness detection
  // costs on top of the server's own start.
  std::optional<double> server_listening_ms;
  double wall_s = 0.0;  // from the first request to the last one's end
  // CPU time (user + system) of this process alone over the same span: the runtime's own cost
  // (plus llmctl's bookkeeping), without the server's, which runs in its own process.
  double host_cpu_s = 0.0;
  BenchStats stats;
  inference::ModelStats model_stats;  // the model's own counters after the run
  // What the loaded model serves (ModelInfo::serving_*): the context per slot, why that one (chosen
  // to fit the device or host, or asked for), and the device. 0 and empty for a backend that says
  // nothing (the stub).
  uint64_t context_per_slot = 0;
  std::string context_reason;
  std::string device;

  double aggregate_tokens_per_s() const;
};

// backend, model, requests, concurrency, slots (per replica), slots_total (over every replica),
// max_tokens, prompt_words, shared_prefix_words, completed, errors, errors_by_code, tokens,
// load_ms, server_listening_ms (null without a server), wall_s, host_cpu_s,
// context_per_slot, context_reason, device (what the model serves: 0 and "" when the backend says
// nothing), host_cpu_us_per_token, host_cpu_us_per_request, agg_tok_s, req_s, ttft_ms_p50/p99,
// queue_ms_p50/p99, total_ms_p50/p99, decode_tok_s_p50, max_in_flight, requests_rejected,
// restarts, prompt_tokens, cached_prompt_tokens, prefix_hits, affinity_hits, and replicas: one
// object per replica the model reports (empty for a backend without replicas, e.g. the stub)
// with replica, state, device, reason, slots, requests, max_in_flight, tokens, restarts (the
// model's counters) and completed, errors, cached_prompt_tokens (what this run's streams
// reported from it).
boost::json::object to_json(const BenchReport& report);

void print_table(const BenchReport& report, std::FILE* out);

}  // namespace llmctl
