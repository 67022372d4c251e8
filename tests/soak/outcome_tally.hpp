// How the soak's requests ended: counts per outcome, per error code and per planned fate, and
// the first few failures in words.
//
// Ownership: owns its counters. Thread-safety: record() and the readers may be called from any
// thread (one mutex).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "request_plan.hpp"

namespace inference::soak {

enum class Outcome {
  // Acceptable endings.
  completed,            // tokens and a finish reason (length/stop/eos)
  cancelled_queued,     // cancel() before any token: next() ended, result says cancelled
  cancelled_streaming,  // cancel() after the planned tokens: same
  dropped_queued,       // the stream was destroyed (nothing left to observe)
  dropped_streaming,
  deadline_before_first_token,  // Error(deadline_exceeded) with no token delivered
  deadline_while_streaming,     // Error(deadline_exceeded) after some tokens
  deadline_not_reached,         // a deadline request that finished first (allowed, reported)
  finished_before_cancel,       // cancel() landed after the generation had ended on its own
                                // (max_tokens reached): cancel() is then a no-op, the result
                                // keeps finish_reason length (allowed, reported)
  failed_at_kill,               // a typed error expected of a killed server, during a kill window
  // Failures.
  unexpected_error,   // a typed Error whose code does not fit the request's fate
  untyped_exception,  // anything thrown that is not an inference::Error
  hung,               // no end within the watchdog
  wrong_result,       // ended, but not as promised (token count, finish reason, result())
};
inline constexpr int kOutcomeCount = 15;

std::string_view to_string(Outcome outcome) noexcept;
bool is_failure(Outcome outcome) noexcept;

class OutcomeTally {
 public:
  // `error` is the error code's name ("child_exited") or empty; `detail` explains a failure.
  void record(uint32_t index, Fate fate, Outcome outcome, std::string_view error = {}, std::string_view detail = {});

  uint64_t total() const;
  uint64_t count(Outcome outcome) const;
  uint64_t failures() const;

  // The multi-line report: per outcome, per error code, per fate, and the first failures.
  std::string report() const;

 private:
  // Enough examples to diagnose a failure without flooding the output of a bad run.
  static constexpr std::size_t kFailureExamples = 20;

  mutable std::mutex mutex_;
  std::array<uint64_t, kOutcomeCount> outcomes_{};
  std::array<uint64_t, kFateCount> fates_{};
  std::map<std::string, uint64_t, std::less<>> errors_;
  std::vector<std::string> failure_examples_;
};

}  // namespace inference::soak
