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
  const auto& metrics = result.metrics;
  ++completed_;
  prompt_tokens_ += metrics.prompt_tokens;
  cached_prompt_tokens_ += metrics.cached_prompt_tokens;
  auto& tally = by_replica_[metrics.replica];
  ++tally.completed;
  tally.generated_tokens += metrics.generated_tokens;
  tally.cached_prompt_tokens += metrics.cached_prompt_tokens;
  ttft_ms_.push_back(to_milliseconds(metrics.time_to_first_token));
  queue_ms_.push_back(to_milliseconds(metrics.queue_wait));
  total_ms_.push_back(to_milliseconds(metrics.total_time));
  decode_tok_s_.push_back(metrics.decode_tokens_per_s);
}

void BenchStats::record_failure(const std::error_code& code, int32_t replica) {
  ++errors_;
  ++by_replica_[replica].errors;
  const bool ours = code.category() == inference::error_category();
  const std::string name = ours ? std::string(inference::error_name(static_cast<inference::errc>(code.value())))
                                : code.category().name() + std::string(":") + std::to_string(code.value());
  ++errors_by_code_[name];
}

}  // namespace llmctl
