#include "inference/openai/retry_policy.hpp"

#include <algorithm>

namespace inference::openai {

std::optional<std::chrono::milliseconds> retry_delay(const RetryPolicy& policy, std::uint32_t failed_attempts,
                                                     const RemoteError& error) {
  if (!error.transient() || failed_attempts > policy.retries) return std::nullopt;
  if (error.retry_after()) {
    if (*error.retry_after() > policy.max_delay) return std::nullopt;
    return *error.retry_after();
  }
  // Doubling stops once it passes the cap, so the shift never overflows.
  std::chrono::milliseconds delay = policy.backoff;
  for (std::uint32_t i = 1; i < failed_attempts && delay < policy.max_delay; ++i) delay *= 2;
  return std::min(delay, policy.max_delay);
}

}  // namespace inference::openai
