// The soak's request side: `concurrency` worker coroutines take request indices in order, run
// each request as its planned fate says (read to the end, cancel or drop while queued or while
// streaming, a deadline that expires), judge how it ended and tally it; the worker that reaches
// a kill point kills the server first. It behaves as a host application would: it only uses the
// TextModel and TokenStream interfaces.
//
// Ownership: holds the model; the plan, prompts and options are copied in. Thread-safety:
// workers may run on any threads of the model's io_context; shared counters are atomics or
// behind one mutex. Cancellation: every stream read is bounded by the watchdog; a stream that
// hits it is cancelled and counted hung.
#pragma once

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "inference/text_model.hpp"
#include "outcome_tally.hpp"
#include "request_plan.hpp"
#include "server_killer.hpp"
#include "soak_options.hpp"

namespace inference::soak {

// deadline_queued: the deadline falls within this of the request, far shorter than the wait
// behind ~60 queued requests (hundreds of milliseconds), so it expires before a slot is free.
inline constexpr std::chrono::milliseconds kDeadlineQueuedWindow{20};
// deadline_running: the deadline falls this far at most past the expected queue wait. A
// deadline request generates kDefaultDeadlineMaxTokens tokens, which takes longer than this even
// at the tiny model's best speed, so the deadline passes while it streams (or, when the queue was
// longer than expected, while it still waits).
inline constexpr std::chrono::milliseconds kDeadlineRunningWindow{100};
// Weight of the newest queue wait in the running estimate (an exponential moving average).
inline constexpr double kQueueWaitSmoothing = 0.1;

class SoakDriver {
 public:
  using Clock = std::chrono::steady_clock;

  SoakDriver(std::shared_ptr<TextModel> model, SoakOptions options, std::vector<PlannedRequest> plan,
             std::vector<std::string> prompts);

  // One worker: runs requests until the plan is exhausted.
  boost::asio::awaitable<void> worker();

  const OutcomeTally& tally() const { return tally_; }
  const ServerKiller& killer() const { return killer_; }
  // RSS sampled when the baseline_after-th request finished (0 until then).
  uint64_t baseline_rss() const { return baseline_rss_.load(); }
  // Mean and smallest queue depth seen at the moment a queued request was cancelled or dropped.
  double mean_queue_depth_at_queued_cancel() const;
  uint64_t min_queue_depth_at_queued_cancel() const;

 private:
  struct Read;  // how one stream read ended
  boost::asio::awaitable<void> run_request(uint32_t index);
  boost::asio::awaitable<Read> read(TokenStream& stream, boost::asio::steady_timer& watchdog);
  static boost::asio::awaitable<Read> read_once(TokenStream& stream);
  GenerateConfig config_for(const PlannedRequest& planned) const;
  void note_queue_wait(std::chrono::nanoseconds wait);
  void note_queued_cancel();
  void finished_one();

  std::shared_ptr<TextModel> model_;
  const SoakOptions options_;
  const std::vector<PlannedRequest> plan_;
  const std::vector<std::string> prompts_;
  const std::set<uint32_t> kill_points_;
  OutcomeTally tally_;
  ServerKiller killer_;
  std::atomic<uint32_t> next_index_{0};
  std::atomic<uint32_t> finished_{0};
  std::atomic<uint64_t> baseline_rss_{0};
  mutable std::mutex mutex_;
  double queue_wait_estimate_ms_ = 0;        // guarded by mutex_
  uint64_t queued_cancels_ = 0;              // guarded by mutex_
  uint64_t queue_depth_sum_ = 0;             // guarded by mutex_
  std::optional<uint64_t> queue_depth_min_;  // guarded by mutex_
};

}  // namespace inference::soak
