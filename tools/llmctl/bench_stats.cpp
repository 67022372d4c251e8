#include "bench_stats.hpp"

#include <algorithm>
#include <cmath>

#include "inference/error.hpp"
#include "milliseconds.hpp"

namespace llmctl {

double percentile(std::vector<double> samples, double fraction) {
  if (samples.empty()) return 0.0;
  fraction = std::clamp(fraction, 0.0, 1.0);
  // Nearest rank: the smallest sample with at least `fraction` of all samples at or below it.
  const auto rank = static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(samples.size())));
  const std::size_t index = rank == 0 ? 0 : rank - 1;
  std::nth_element(samples.begin(), samples.begin() + static_cast<std::ptrdiff_t>(index), samples.end());
  return samples[index];
}

void BenchStats::record_success(const inference::GenerateResult& result) {
  ++completed_;
  ttft_ms_.push_back(to_milliseconds(result.metrics.time_to_first_token));
  queue_ms_.push_back(to_milliseconds(result.metrics.queue_wait));
  total_ms_.push_back(to_milliseconds(result.metrics.total_time));
  decode_tok_s_.push_back(result.metrics.decode_tokens_per_s);
}

void BenchStats::record_failure(const std::error_code& code) {
  ++errors_;
  const bool ours = code.category() == inference::error_category();
  const std::string name = ours ? std::string(inference::error_name(static_cast<inference::errc>(code.value())))
                                : code.category().name() + std::string(":") + std::to_string(code.value());
  ++errors_by_code_[name];
}

}  // namespace llmctl
