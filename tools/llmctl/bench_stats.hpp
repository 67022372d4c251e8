// BenchStats: what a bench run has measured so far: request and token counters, failures by
// error code, per-request latency samples with their percentiles, prompt tokens (and how many
// the server had cached), and the same counters per replica that served the requests.
// Not thread-safe: bench's workers all run on llmctl's one io thread.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "inference/types.hpp"

namespace llmctl {

// The nearest-rank percentile (fraction in [0, 1]) of samples; 0 when there are none.
double percentile(std::vector<double> samples, double fraction);

// What the streams that ran on one replica reported (GenerateMetrics::replica).
struct ReplicaTally {
  uint64_t completed = 0;
  uint64_t errors = 0;
  uint64_t generated_tokens = 0;
  uint64_t cached_prompt_tokens = 0;
};

class BenchStats {
 public:
  void record_token() { ++tokens_; }
  void record_success(const inference::GenerateResult& result);
  // replica: GenerateMetrics::replica of the failed stream (-1: it never had a slot, or the
  // backend has no replicas).
  void record_failure(const std::error_code& code, int32_t replica = -1);

  uint64_t completed() const noexcept { return completed_; }
  uint64_t errors() const noexcept { return errors_; }
  uint64_t tokens() const noexcept { return tokens_; }
  const std::map<std::string, uint64_t>& errors_by_code() const noexcept { return errors_by_code_; }
  uint64_t prompt_tokens() const noexcept { return prompt_tokens_; }  // of the completed requests
  uint64_t cached_prompt_tokens() const noexcept { return cached_prompt_tokens_; }
  // By GenerateMetrics::replica; -1 holds what ran on a backend without replicas and failures
  // before a slot was taken.
  const std::map<int32_t, ReplicaTally>& by_replica() const noexcept { return by_replica_; }

  const std::vector<double>& ttft_ms() const noexcept { return ttft_ms_; }
  const std::vector<double>& queue_ms() const noexcept { return queue_ms_; }
  const std::vector<double>& total_ms() const noexcept { return total_ms_; }
  const std::vector<double>& decode_tok_s() const noexcept { return decode_tok_s_; }

 private:
  uint64_t completed_ = 0;
  uint64_t errors_ = 0;
  uint64_t tokens_ = 0;
  uint64_t prompt_tokens_ = 0;
  uint64_t cached_prompt_tokens_ = 0;
  std::map<std::string, uint64_t> errors_by_code_;
  std::map<int32_t, ReplicaTally> by_replica_;
  std::vector<double> ttft_ms_;
  std::vector<double> queue_ms_;
  std::vector<double> total_ms_;
  std::vector<double> decode_tok_s_;
};

}  // namespace llmctl
