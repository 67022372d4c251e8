// Forced kills of the model's llama-server, the way an operator (or the OOM killer) would: find
// the child of this process that is a llama-server in /proc and SIGKILL it. Each kill opens a
// window that closes when the model reports the restart; a request that overlaps a window may
// fail with child_exited, any other request must not.
//
// Ownership: holds the model (for its restart count). Thread-safety: all members may be called
// from any thread; kill() must not run concurrently with itself (the driver calls it from the
// one worker that reaches a kill point).
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "inference/text_model.hpp"

namespace inference::soak {

// A restart of the tiny model takes well under a second plus the supervisor's backoff (at most
// a few seconds for three restarts in one window); this only bounds a model that never returns.
inline constexpr std::chrono::seconds kRestartDeadline{60};

class ServerKiller {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ServerKiller(std::shared_ptr<TextModel> model) : model_(std::move(model)) {}

  // Waits (bounded) until the previous restart is done and one llama-server child runs, kills it
  // with SIGKILL, then waits (bounded) until the model reports the restart. Problems are
  // recorded in problems(), not thrown. `at_request` only labels the log line.
  boost::asio::awaitable<void> kill(uint32_t at_request);

  // True when [start, end] overlaps a kill window (an open window reaches to the end of time).
  bool around_kill(Clock::time_point start, Clock::time_point end) const;

  uint32_t kills() const;
  std::vector<std::string> log() const;       // one line per kill
  std::vector<std::string> problems() const;  // kills that could not be done or not recovered

 private:
  struct Window {
    Clock::time_point killed;
    std::optional<Clock::time_point> recovered;
  };

  std::shared_ptr<TextModel> model_;
  mutable std::mutex mutex_;
  std::vector<Window> windows_;
  std::vector<std::string> log_;
  std::vector<std::string> problems_;
};

}  // namespace inference::soak
