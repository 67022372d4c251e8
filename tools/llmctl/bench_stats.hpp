// BenchStats: what a bench run has measured so far: request and token counters, failures by
// error code, and per-request latency samples with their percentiles.
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

class BenchStats {
 public:
  void record_token() { ++tokens_; }
  void record_success(const inference::GenerateResult& result);
  void record_failure(const std::error_code& code);

  uint64_t completed() const noexcept { return completed_; }
  uint64_t errors() const noexcept { return errors_; }
  uint64_t tokens() const noexcept { return tokens_; }
  const std::map<std::string, uint64_t>& errors_by_code() const noexcept { return errors_by_code_; }

  const std::vector<double>& ttft_ms() const noexcept { return ttft_ms_; }
  const std::vector<double>& queue_ms() const noexcept { return queue_ms_; }
  const std::vector<double>& total_ms() const noexcept { return total_ms_; }
  const std::vector<double>& decode_tok_s() const noexcept { return decode_tok_s_; }

 private:
  uint64_t completed_ = 0;
  uint64_t errors_ = 0;
  uint64_t tokens_ = 0;
  std::map<std::string, uint64_t> errors_by_code_;
  std::vector<double> ttft_ms_;
  std::vector<double> queue_ms_;
  std::vector<double> total_ms_;
  std::vector<double> decode_tok_s_;
};

}  // namespace llmctl
