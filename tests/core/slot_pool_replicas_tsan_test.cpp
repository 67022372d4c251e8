// The placement scheduler under load, for ThreadSanitizer (scripts/test's TSan stage runs it;
// the normal build too): 1,000 streams over 3 replicas x 2 slots from a 4-thread io_context,
// with random cancellations of waiting acquires and one replica taken away and brought back.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "inference/error.hpp"
#include "inference/slot_pool.hpp"
#include "support/run_async.hpp"

namespace inference {
namespace {

namespace asio = boost::asio;
using Strand = asio::strand<asio::io_context::executor_type>;

constexpr int kStreams = 1'000;
constexpr uint32_t kReplicas = 3;
constexpr uint32_t kSlots = 2;
constexpr uint32_t kAwayReplica = 1;  // made unavailable mid-run
constexpr int kAwayFrom = 300;        // ... after this many streams were started
constexpr int kBackFrom = 600;        // ... and available again from this one
constexpr int kMaxHoldSteps = 8;      // posts a stream holds its lease for, at most
constexpr int kYieldOneIn = 2;        // the driver lets the streams run after one stream in this many
constexpr int kCancelOneIn = 3;       // after starting a stream, cancel a recent one this often
constexpr int kCancelAmongLast = 16;  // ... among the last this many started (likely waiting)

// What every stream shares with the test body. The atomics are counters read at the end; the
// mutex guards the availability record against which each placement is checked.
struct Shared {
  explicit Shared(SlotPool& p) : pool(p) {}
  SlotPool& pool;
  std::atomic<int> leased{0};
  std::atomic<int> cancelled{0};
  std::atomic<int> rejected{0};
  std::atomic<int> other_errors{0};
  std::atomic<int> cancels_sent_while_waiting{0};
  std::array<std::atomic<int>, kReplicas> held{};
  std::array<std::atomic<int>, kReplicas> peak{};
  std::mutex mutex;
  bool away_drained = false;  // the replica is unavailable and its last lease was returned
  int placed_while_away = 0;
};

// One stream's own state: its strand (its coroutine and its cancellation run there, Asio's
// rule for a cancellation_signal), the signal, and whether it is waiting for a slot.
struct Stream {
  explicit Stream(asio::io_context& io) : strand(asio::make_strand(io)) {}
  Strand strand;
  asio::cancellation_signal signal;
  bool waiting = false;  // on the strand only
};

void raise_peak(std::atomic<int>& peak, int now) {
  int seen = peak.load();
  while (now > seen && !peak.compare_exchange_weak(seen, now)) {
  }
}

void count_failure(Shared& run, const Error& e) {
  if (e.is(errc::cancelled)) {
    ++run.cancelled;
  } else if (e.is(errc::overloaded)) {
    ++run.rejected;
  } else {
    ++run.other_errors;
  }
}

// Acquire, hold for `hold_steps` posts, release. Only the acquire is cancellable: the hold's
// posts would otherwise throw once the stream's cancellation state was set.
asio::awaitable<void> stream(Shared& run, Stream& self, int hold_steps) {
  co_await asio::this_coro::throw_if_cancelled(false);
  SlotLease lease;
  self.waiting = true;
  try {
    lease = co_await run.pool.acquire();
  } catch (const Error& e) {
    self.waiting = false;
    count_failure(run, e);
    co_return;
  }
  self.waiting = false;
  ++run.leased;
  const uint32_t replica = lease.replica();
  raise_peak(run.peak[replica], ++run.held[replica]);
  if (replica == kAwayReplica) {
    std::lock_guard lock(run.mutex);
    if (run.away_drained) ++run.placed_while_away;
  }
  for (int i = 0; i < hold_steps; ++i) co_await asio::post(self.strand, asio::use_awaitable);
  --run.held[replica];
}

// Cancels the stream's acquire if it is waiting (run on its strand).
void cancel_if_waiting(Shared& run, Stream& target) {
  asio::post(target.strand, [&run, &target] {
    if (!target.waiting) return;
    ++run.cancels_sent_while_waiting;
    target.signal.emit(asio::cancellation_type::terminal);
  });
}

// Starts the streams one by one, cancelling random ones, and takes a replica away (waiting for
// its last lease, as when replacing it) and back mid-run.
asio::awaitable<void> drive(Shared& run, std::vector<std::unique_ptr<Stream>>& streams, uint64_t& acquired_while_away) {
  std::mt19937 random(14);
  const auto never = std::chrono::steady_clock::now() + std::chrono::hours(24);
  uint64_t acquired_on_away = 0;
  for (int i = 0; i < kStreams; ++i) {
    if (i == kAwayFrom) {
      run.pool.set_replica_available(kAwayReplica, false);
      acquired_on_away = run.pool.stats().replicas[kAwayReplica].acquired_total;
      EXPECT_TRUE(co_await run.pool.wait_replica_idle(kAwayReplica, never));
      std::lock_guard lock(run.mutex);
      run.away_drained = true;
    }
    if (i == kBackFrom) {
      {
        std::lock_guard lock(run.mutex);
        run.away_drained = false;
        acquired_while_away = run.pool.stats().replicas[kAwayReplica].acquired_total - acquired_on_away;
      }
      run.pool.set_replica_available(kAwayReplica, true);
    }
    Stream& s = *streams[i];
    const int hold = std::uniform_int_distribution<int>(0, kMaxHoldSteps)(random);
    asio::co_spawn(s.strand, stream(run, s, hold),
                   asio::bind_cancellation_slot(s.signal.slot(), [](std::exception_ptr) {}));
    if (std::uniform_int_distribution<int>(1, kCancelOneIn)(random) == 1) {
      const int target = std::uniform_int_distribution<int>(std::max(0, i - kCancelAmongLast), i)(random);
      cancel_if_waiting(run, *streams[target]);
    }
    // Bursts keep the queue busy: several streams arrive, then the driver lets others run.
    if (std::uniform_int_distribution<int>(1, kYieldOneIn)(random) == 1) {
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
    }
  }
}

TEST(SlotPoolReplicasTsan, ThousandStreamsOverThreeReplicasWithCancellationsAndAReplicaAway) {
  SlotPool pool({.slots = kSlots, .queue_limit = 24, .replicas = kReplicas});
  Shared run(pool);
  uint64_t acquired_while_away = 0;
  {
    asio::io_context io(4);
    std::vector<std::unique_ptr<Stream>> streams;
    for (int i = 0; i < kStreams; ++i) streams.push_back(std::make_unique<Stream>(io));
    auto done = asio::co_spawn(io, drive(run, streams, acquired_while_away), asio::use_future);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) threads.emplace_back([&io] { io.run(); });
    for (auto& t : threads) t.join();  // io.run() returns once every stream has finished
    done.get();
  }
  const int finished = run.leased + run.cancelled + run.rejected;
  std::printf("leased %d, cancelled %d, rejected %d (cancellations sent to waiting streams: %d)\n", run.leased.load(),
              run.cancelled.load(), run.rejected.load(), run.cancels_sent_while_waiting.load());
  EXPECT_EQ(finished, kStreams);
  EXPECT_EQ(run.other_errors.load(), 0);
  EXPECT_GT(run.leased.load(), 0);
  for (uint32_t r = 0; r < kReplicas; ++r) EXPECT_LE(run.peak[r].load(), static_cast<int>(kSlots)) << "replica " << r;
  EXPECT_EQ(run.placed_while_away, 0);
  EXPECT_EQ(acquired_while_away, 0u);
  const SlotPoolStats stats = pool.stats();
  EXPECT_EQ(stats.slots_busy, 0u);
  EXPECT_EQ(stats.queue_depth, 0u);
  EXPECT_EQ(stats.acquired_total, static_cast<uint64_t>(run.leased.load()));
  EXPECT_EQ(stats.rejected_total, static_cast<uint64_t>(run.rejected.load()));
  EXPECT_LE(stats.max_in_flight, kSlots * kReplicas);
  for (const ReplicaSlotStats& replica : stats.replicas) {
    EXPECT_TRUE(replica.available);
    EXPECT_LE(replica.max_in_flight, kSlots);
  }
}

}  // namespace
}  // namespace inference
