// Per-request generation settings. Every optional field left unset means "backend default";
// an explicit value (including 0) is always passed through.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace inference {

// Used when GenerateConfig::max_tokens is unset.
inline constexpr int32_t kDefaultMaxTokens = 256;

struct GenerateConfig {
  // Not an aggregate on purpose: g++ 12 miscompiles coroutine parameters initialised from
  // prvalue aggregates that own memory (see docs/architecture.md).
  GenerateConfig() = default;

  std::optional<int32_t> max_tokens;  // unset: kDefaultMaxTokens
  std::optional<float> temperature;   // 0 = greedy
  std::optional<int32_t> top_k;
  std::optional<float> top_p;
  std::optional<float> min_p;
  std::optional<float> repeat_penalty;
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;      // stop strings
  std::vector<int32_t> stop_tokens;   // stop token ids
  int32_t logprobs = 0;               // top-N probabilities per token, 0 = off
  std::string session;                // affinity key; empty = none
  // Covers queueing and generation; when it passes the stream fails with deadline_exceeded.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::optional<int32_t> priority;    // higher is served first; unset = 0

  int32_t effective_max_tokens() const { return max_tokens.value_or(kDefaultMaxTokens); }

  // Sets the deadline to now + timeout.
  GenerateConfig& with_timeout(std::chrono::steady_clock::duration timeout) {
    deadline = std::chrono::steady_clock::now() + timeout;
    return *this;
  }
};

}  // namespace inference
