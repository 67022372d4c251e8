// RestartBudget: how often a crashed child may be restarted, and after which delay. At most
// `budget` restarts within a sliding `window`; the delay before each starts at `backoff` and
// doubles with every restart already in the window (the engine's policy for llama-server,
// server_supervisor.hpp). A child that keeps crashing is given up on instead of spun.
//
// Ownership: a plain value. Thread-safety: none (one supervisor owns it).
// Cancellation: nothing here waits; the caller sleeps the returned delay.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>

namespace llmctl {

class RestartBudget {
 public:
  using Clock = std::chrono::steady_clock;

  RestartBudget(std::size_t budget, Clock::duration window, std::chrono::milliseconds backoff);

  // Records a crash at `now`. Returns the delay before the restart, or std::nullopt when the
  // budget within the window is spent (give up).
  std::optional<std::chrono::milliseconds> on_crash(Clock::time_point now);

  // Restarts counted in the current window (after the last on_crash()).
  std::size_t restarts_in_window() const noexcept { return restarts_.size(); }

 private:
  const std::size_t budget_;
  const Clock::duration window_;
  const std::chrono::milliseconds backoff_;
  std::deque<Clock::time_point> restarts_;
};

}  // namespace llmctl
