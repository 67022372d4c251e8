#include "inference/slot_pool.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "support/caught_code.hpp"
#include "support/run_async.hpp"

namespace inference {
namespace {

namespace asio = boost::asio;
using testing::caught_code;
using testing::run_async;
using testing::run_bounded;

// Lets every ready handler run once; used to let queued work reach its waiting point.
asio::awaitable<void> yield_a_few(int n = 10) {
  for (int i = 0; i < n; ++i) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

TEST(SlotPool, GrantsAFreeSlotWithoutWaiting) {
  SlotPool pool({.slots = 2, .queue_limit = 4});
  run_async([&]() -> asio::awaitable<void> {
    auto a = co_await pool.acquire();
    auto b = co_await pool.acquire();
    EXPECT_NE(a.slot(), b.slot());
    EXPECT_EQ(pool.stats().slots_busy, 2u);
    a.release();
    EXPECT_EQ(pool.stats().slots_busy, 1u);
  });
  EXPECT_EQ(pool.stats().slots_busy, 0u);
}

TEST(SlotPool, NeverHasMoreInFlightThanSlotsUnderContention) {
  SlotPool pool({.slots = 4, .queue_limit = 1000});
  std::atomic<int> in_flight{0};
  std::atomic<int> peak{0};
  std::atomic<int> done{0};
  run_async(
      [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        for (int i = 0; i < 400; ++i) {
          asio::co_spawn(
              ex,
              [&]() -> asio::awaitable<void> {
                auto lease = co_await pool.acquire();
                const int now = ++in_flight;
                int seen = peak.load();
                while (now > seen && !peak.compare_exchange_weak(seen, now)) {
                }
                co_await yield_a_few(2);
                --in_flight;
                ++done;
              },
              asio::detached);
        }
        co_return;
      },
      4);
  EXPECT_EQ(done.load(), 400);
  EXPECT_LE(peak.load(), 4);
  EXPECT_EQ(pool.stats().max_in_flight, 4u);
  EXPECT_EQ(pool.stats().acquired_total, 400u);
  EXPECT_EQ(pool.stats().queue_depth, 0u);
}

TEST(SlotPool, FullQueueRefusesAtOnceWithOverloaded) {
  SlotPool pool({.slots = 1, .queue_limit = 2});
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto held = co_await pool.acquire();
    for (int i = 0; i < 2; ++i) {
      asio::co_spawn(
          ex, [&]() -> asio::awaitable<void> { auto l = co_await pool.acquire(); }, asio::detached);
    }
    co_await yield_a_few();
    EXPECT_EQ(pool.stats().queue_depth, 2u);
    try {
      co_await pool.acquire();
      ADD_FAILURE() << "a third waiter was admitted beyond queue_limit";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::overloaded)) << e.what();
    }
    EXPECT_EQ(pool.stats().rejected_total, 1u);
  });
}

// A free function, not a lambda in the test's coroutine: the waiters outlive that coroutine's
// frame, and a coroutine lambda reaches its captures through its closure (TSan found the
// use-after-free).
asio::awaitable<void> wait_in_order(SlotPool& pool, std::vector<std::string>& order, std::string name, int priority) {
  auto lease = co_await pool.acquire(SlotRequest(std::string(), priority));
  order.push_back(name);
}

TEST(SlotPool, ServesHigherPriorityFirstThenFifo) {
  SlotPool pool({.slots = 1, .queue_limit = 10});
  std::vector<std::string> order;
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto held = co_await pool.acquire();
    const auto waiter = [&](std::string name, int priority) {
      return wait_in_order(pool, order, std::move(name), priority);
    };
    asio::co_spawn(ex, waiter("a", 0), asio::detached);
    asio::co_spawn(ex, waiter("b", 0), asio::detached);
    asio::co_spawn(ex, waiter("urgent", 5), asio::detached);
    asio::co_spawn(ex, waiter("c", 0), asio::detached);
    co_await yield_a_few();
    held.release();
  });
  EXPECT_EQ(order, (std::vector<std::string>{"urgent", "a", "b", "c"}));
}

TEST(SlotPool, CancelledWaiterLeavesTheQueueAndTheNextOneIsServed) {
  SlotPool pool({.slots = 1, .queue_limit = 10});
  std::exception_ptr cancelled_error;
  bool second_served = false;
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto held = co_await pool.acquire();
    asio::cancellation_signal signal;
    asio::co_spawn(
        ex, [&]() -> asio::awaitable<void> { auto l = co_await pool.acquire(); },
        asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) { cancelled_error = e; }));
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          auto l = co_await pool.acquire();
          second_served = true;
        },
        asio::detached);
    co_await yield_a_few();
    EXPECT_EQ(pool.stats().queue_depth, 2u);
    signal.emit(asio::cancellation_type::terminal);
    co_await yield_a_few();
    EXPECT_EQ(pool.stats().queue_depth, 1u);
    held.release();
  });
  ASSERT_TRUE(cancelled_error);
  EXPECT_EQ(caught_code(cancelled_error), errc::cancelled);
  EXPECT_TRUE(second_served);
  EXPECT_EQ(pool.stats().acquired_total, 2u);
}

TEST(SlotPool, SessionAffinityReturnsThePreviousSlotWhenFree) {
  SlotPool pool({.slots = 4, .queue_limit = 10});
  run_async([&]() -> asio::awaitable<void> {
    uint32_t first = 0;
    {
      auto a = co_await pool.acquire(SlotRequest("alice"));
      first = a.slot();
    }
    {
      auto b = co_await pool.acquire(SlotRequest("bob"));
      EXPECT_NE(b.slot(), first) << "a new session should take the least recently used slot";
    }
    auto again = co_await pool.acquire(SlotRequest("alice"));
    EXPECT_EQ(again.slot(), first);
  });
  EXPECT_EQ(pool.stats().affinity_hits, 1u);
}

TEST(SlotPool, SessionAffinityNeverWaitsForABusySlot) {
  SlotPool pool({.slots = 2, .queue_limit = 10});
  run_async([&]() -> asio::awaitable<void> {
    auto a = co_await pool.acquire(SlotRequest("alice"));
    auto other = co_await pool.acquire(SlotRequest("alice"));  // would deadlock if it waited
    EXPECT_NE(other.slot(), a.slot());
  });
}

TEST(SlotPool, CloseFailsWaitersAndRefusesNewRequests) {
  SlotPool pool({.slots = 1, .queue_limit = 10});
  std::exception_ptr waiter_error;
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto held = co_await pool.acquire();
    asio::co_spawn(
        ex, [&]() -> asio::awaitable<void> { auto l = co_await pool.acquire(); },
        [&](std::exception_ptr e) { waiter_error = e; });
    co_await yield_a_few();
    pool.close(make_error_code(errc::closed), "test");
    co_await yield_a_few();
    try {
      co_await pool.acquire();
      ADD_FAILURE() << "acquire succeeded after close";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::closed));
    }
  });
  ASSERT_TRUE(waiter_error);
  EXPECT_EQ(caught_code(waiter_error), errc::closed);
}

TEST(SlotPool, WaitIdleCompletesWhenTheLastLeaseIsReleased) {
  SlotPool pool({.slots = 2, .queue_limit = 10});
  // A deadline that never passes within the test: only the release can end the wait.
  const auto never = std::chrono::steady_clock::now() + std::chrono::hours(24);
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    const bool idle_at_once = co_await pool.wait_idle(never);
    EXPECT_TRUE(idle_at_once);
    auto a = co_await pool.acquire();
    auto b = co_await pool.acquire();
    bool last_released = false;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          co_await yield_a_few();
          a.release();  // one slot still held: not idle yet
          co_await yield_a_few();
          last_released = true;
          b.release();
        },
        asio::detached);
    const bool idle = co_await pool.wait_idle(never);
    EXPECT_TRUE(idle);
    EXPECT_TRUE(last_released);
    EXPECT_EQ(pool.stats().slots_busy, 0u);
  });
}

TEST(SlotPool, WaitIdleGivesFalseWhenTheDeadlinePassesFirst) {
  SlotPool pool({.slots = 1, .queue_limit = 10});
  run_async([&]() -> asio::awaitable<void> {
    auto held = co_await pool.acquire();
    const bool idle = co_await pool.wait_idle(std::chrono::steady_clock::now());
    EXPECT_FALSE(idle);
    EXPECT_EQ(pool.stats().slots_busy, 1u);
  });
}

TEST(SlotPool, RejectsZeroSlots) { EXPECT_THROW(SlotPool({.slots = 0, .queue_limit = 1}), Error); }

// The message of the Error(invalid_argument) the options throw, or "" when they are accepted.
std::string option_error(SlotPoolOptions options) {
  try {
    SlotPool pool(options);
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    return e.what();
  }
  return "";
}

TEST(SlotPool, RejectsInvalidOptionsNamingTheField) {
  EXPECT_NE(option_error({.slots = 0}).find("slots"), std::string::npos);
  EXPECT_NE(option_error({.replicas = 0}).find("replicas"), std::string::npos);
  EXPECT_NE(option_error({.min_prefix_share = 0.0}).find("min_prefix_share"), std::string::npos);
  EXPECT_NE(option_error({.min_prefix_share = 1.5}).find("min_prefix_share"), std::string::npos);
  EXPECT_NE(option_error({.min_prefix_share = std::nan("")}).find("min_prefix_share"), std::string::npos);
  EXPECT_EQ(option_error({.min_prefix_share = 1.0}), "");
}

TEST(SlotPool, CountsSlotsOverEveryReplica) {
  SlotPool pool({.slots = 2, .queue_limit = 4, .replicas = 3});
  EXPECT_EQ(pool.size(), 6u);
  EXPECT_EQ(pool.replicas(), 3u);
  std::vector<std::pair<uint32_t, uint32_t>> held;
  run_async([&]() -> asio::awaitable<void> {
    std::vector<SlotLease> leases;
    for (int i = 0; i < 6; ++i) leases.push_back(co_await pool.acquire());
    for (const auto& lease : leases) held.emplace_back(lease.replica(), lease.slot());
    const SlotPoolStats stats = pool.stats();
    EXPECT_EQ(stats.slots_total, 6u);
    EXPECT_EQ(stats.slots_busy, 6u);
    EXPECT_EQ(stats.replicas.size(), 3u);
    for (const auto& replica : stats.replicas) {
      EXPECT_EQ(replica.slots_total, 2u);
      EXPECT_EQ(replica.slots_busy, 2u);
    }
  });
  std::sort(held.begin(), held.end());
  EXPECT_EQ(held, (std::vector<std::pair<uint32_t, uint32_t>>{{0, 0}, {0, 1}, {1, 0}, {1, 1}, {2, 0}, {2, 1}}));
}

// Acquires and keeps the lease in `leases` (which outlives the coroutine); an error goes to the
// co_spawn completion.
asio::awaitable<void> acquire_into(SlotPool& pool, std::vector<SlotLease>& leases, SlotRequest request) {
  leases.push_back(co_await pool.acquire(std::move(request)));
}

TEST(SlotPoolReplicas, AnUnavailableReplicaGetsNoNewRequests) {
  SlotPool pool({.slots = 1, .queue_limit = 4, .replicas = 2});
  std::vector<SlotLease> leases;
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    pool.set_replica_available(0, false);
    auto first = co_await pool.acquire();
    EXPECT_EQ(first.replica(), 1u);
    asio::co_spawn(ex, acquire_into(pool, leases, SlotRequest()), asio::detached);
    co_await yield_a_few();
    EXPECT_EQ(pool.stats().queue_depth, 1u) << "replica 0's free slot was given out";
    first.release();
    co_await yield_a_few();
  });
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].replica(), 1u);
  EXPECT_EQ(pool.stats().replicas[0].acquired_total, 0u);
  EXPECT_FALSE(pool.stats().replicas[0].available);
}

TEST(SlotPoolReplicas, HeldLeasesOnAnUnavailableReplicaReleaseWithoutHandingTheSlotOn) {
  SlotPool pool({.slots = 1, .queue_limit = 4, .replicas = 2});
  std::vector<SlotLease> leases;
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto on_0 = co_await pool.acquire();
    auto on_1 = co_await pool.acquire();
    EXPECT_EQ(on_0.replica(), 0u);
    pool.set_replica_available(0, false);
    asio::co_spawn(ex, acquire_into(pool, leases, SlotRequest()), asio::detached);
    co_await yield_a_few();
    on_0.release();
    co_await yield_a_few();
    EXPECT_EQ(pool.stats().replicas[0].slots_busy, 0u);
    EXPECT_EQ(pool.stats().queue_depth, 1u) << "the slot of an unavailable replica was handed to a waiter";
    on_1.release();
    co_await yield_a_few();
  });
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].replica(), 1u);
}

TEST(SlotPoolReplicas, WithEveryReplicaUnavailableRequestsQueueUpToTheLimitAndCanBeCancelled) {
  SlotPool pool({.slots = 2, .queue_limit = 3, .replicas = 2});
  std::vector<SlotLease> leases;
  std::exception_ptr cancelled_error;
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    pool.set_replica_available(0, false);
    pool.set_replica_available(1, false);
    asio::cancellation_signal signal;
    asio::co_spawn(ex, acquire_into(pool, leases, SlotRequest()),
                   asio::bind_cancellation_slot(signal.slot(), [&](std::exception_ptr e) { cancelled_error = e; }));
    for (int i = 0; i < 2; ++i) asio::co_spawn(ex, acquire_into(pool, leases, SlotRequest()), asio::detached);
    co_await yield_a_few();
    EXPECT_EQ(pool.stats().queue_depth, 3u);
    try {
      co_await pool.acquire();
      ADD_FAILURE() << "a fourth waiter was admitted beyond queue_limit";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::overloaded)) << e.what();
    }
    signal.emit(asio::cancellation_type::terminal);
    co_await yield_a_few();
    EXPECT_EQ(pool.stats().queue_depth, 2u);
    // Replica 1 comes back: both of its slots go to the two waiters.
    pool.set_replica_available(1, true);
    co_await yield_a_few();
    EXPECT_EQ(pool.stats().queue_depth, 0u);
  });
  ASSERT_TRUE(cancelled_error);
  EXPECT_EQ(caught_code(cancelled_error), errc::cancelled);
  ASSERT_EQ(leases.size(), 2u);
  EXPECT_EQ(leases[0].replica(), 1u);
  EXPECT_EQ(leases[1].replica(), 1u);
  EXPECT_NE(leases[0].slot(), leases[1].slot());
}

TEST(SlotPoolReplicas, WithEveryReplicaUnavailableCloseStillFailsTheWaiters) {
  SlotPool pool({.slots = 1, .queue_limit = 4, .replicas = 2});
  std::vector<SlotLease> leases;
  std::exception_ptr waiter_error;
  bool idle = false;
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    pool.set_replica_available(0, false);
    pool.set_replica_available(1, false);
    asio::co_spawn(ex, acquire_into(pool, leases, SlotRequest()), [&](std::exception_ptr e) { waiter_error = e; });
    co_await yield_a_few();
    pool.close(make_error_code(errc::closed), "test");
    // No lease is held and the waiter has gone: idle.
    idle = co_await pool.wait_idle(std::chrono::steady_clock::now() + std::chrono::hours(24));
  });
  ASSERT_TRUE(waiter_error);
  EXPECT_EQ(caught_code(waiter_error), errc::closed);
  EXPECT_TRUE(leases.empty());
  EXPECT_TRUE(idle);
}

TEST(SlotPoolReplicas, WaitIdleCompletesWhenTheLastWaiterOfAnUnavailablePoolIsCancelled) {
  SlotPool pool({.slots = 1, .queue_limit = 4, .replicas = 1});
  const auto never = std::chrono::steady_clock::now() + std::chrono::hours(24);
  std::vector<SlotLease> leases;
  bool idle = false;
  run_bounded(
      [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        pool.set_replica_available(0, false);
        asio::cancellation_signal signal;
        asio::co_spawn(ex, acquire_into(pool, leases, SlotRequest()),
                       asio::bind_cancellation_slot(signal.slot(), [](std::exception_ptr) {}));
        co_await yield_a_few();
        asio::co_spawn(
            ex,
            [&]() -> asio::awaitable<void> {
              co_await yield_a_few();
              EXPECT_EQ(pool.stats().slots_busy, 0u);  // nothing held, but a request waits: not idle
              signal.emit(asio::cancellation_type::terminal);
            },
            asio::detached);
        idle = co_await pool.wait_idle(never);
      },
      1, std::chrono::seconds(60));  // a missed wake-up fails here instead of hanging
  EXPECT_TRUE(idle);
  EXPECT_TRUE(leases.empty());
}

TEST(SlotPoolReplicas, MakingAReplicaAvailableAgainIsIdempotentAndKeepsAffinityElsewhere) {
  SlotPool pool({.slots = 1, .queue_limit = 4, .replicas = 2});
  run_async([&]() -> asio::awaitable<void> {
    uint32_t alice_replica = 0;
    {
      auto alice = co_await pool.acquire(SlotRequest("alice"));
      alice_replica = alice.replica();
    }
    pool.set_replica_available(alice_replica, false);
    pool.set_replica_available(alice_replica, false);
    {
      auto moved = co_await pool.acquire(SlotRequest("alice"));  // her slot's replica is away
      EXPECT_NE(moved.replica(), alice_replica);
    }
    pool.set_replica_available(alice_replica, true);
    pool.set_replica_available(alice_replica, true);
    auto back = co_await pool.acquire(SlotRequest("alice"));
    EXPECT_NE(back.replica(), alice_replica) << "her conversation is cached on the other replica now";
    EXPECT_TRUE(pool.stats().replicas[alice_replica].available);
  });
  EXPECT_EQ(pool.stats().affinity_hits, 1u);
}

TEST(SlotPoolReplicas, RejectsAReplicaOutOfRange) {
  SlotPool pool({.slots = 1, .queue_limit = 4, .replicas = 2});
  try {
    pool.set_replica_available(2, false);
    ADD_FAILURE() << "replica 2 of 2 accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument));
    EXPECT_NE(std::string(e.what()).find("replica 2"), std::string::npos) << e.what();
  }
  run_async([&]() -> asio::awaitable<void> {
    try {
      co_await pool.wait_replica_idle(7, std::chrono::steady_clock::now());
      ADD_FAILURE() << "replica 7 of 2 accepted";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument));
    }
  });
}

TEST(SlotPoolReplicas, WaitReplicaIdleWaitsOnlyForThatReplicasLeases) {
  SlotPool pool({.slots = 1, .queue_limit = 4, .replicas = 2});
  const auto never = std::chrono::steady_clock::now() + std::chrono::hours(24);
  std::vector<SlotLease> leases;
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    EXPECT_TRUE(co_await pool.wait_replica_idle(0, never));
    auto on_0 = co_await pool.acquire();
    auto on_1 = co_await pool.acquire();
    EXPECT_EQ(on_0.replica(), 0u);
    asio::co_spawn(ex, acquire_into(pool, leases, SlotRequest()), asio::detached);  // waits
    bool released = false;
    asio::co_spawn(
        ex,
        [&]() -> asio::awaitable<void> {
          co_await yield_a_few();
          on_1.release();  // hands replica 1's slot to the waiter; replica 0 still busy
          co_await yield_a_few();
          pool.set_replica_available(0, false);  // as when replacing it
          released = true;
          on_0.release();
        },
        asio::detached);
    EXPECT_TRUE(co_await pool.wait_replica_idle(0, never));
    EXPECT_TRUE(released);
    EXPECT_EQ(pool.stats().replicas[1].slots_busy, 1u) << "the other replica's lease does not count";
    leases.clear();
  });
}

TEST(SlotPoolReplicas, WaitReplicaIdleGivesFalseWhenTheDeadlinePassesFirst) {
  SlotPool pool({.slots = 1, .queue_limit = 4, .replicas = 2});
  run_async([&]() -> asio::awaitable<void> {
    auto held = co_await pool.acquire();
    EXPECT_FALSE(co_await pool.wait_replica_idle(held.replica(), std::chrono::steady_clock::now()));
    EXPECT_TRUE(co_await pool.wait_replica_idle(1 - held.replica(), std::chrono::steady_clock::now()));
  });
}

TEST(SlotPoolReplicas, StatsReportEachReplicaAndTheTotal) {
  SlotPool pool({.slots = 2, .queue_limit = 4, .replicas = 2});
  run_async([&]() -> asio::awaitable<void> {
    {
      // Least-loaded first: the four spread two and two.
      std::vector<SlotLease> four;
      for (int i = 0; i < 4; ++i) four.push_back(co_await pool.acquire());
      EXPECT_EQ(four[0].replica(), 0u);
      EXPECT_EQ(four[1].replica(), 1u);
    }
    pool.set_replica_available(1, false);
    auto one = co_await pool.acquire(SlotRequest("", 0, "a prompt"));
    auto two = co_await pool.acquire(SlotRequest("", 0, "a prompt, continued"));
    const SlotPoolStats stats = pool.stats();
    EXPECT_EQ(stats.slots_total, 4u);
    EXPECT_EQ(stats.slots_busy, 2u);
    EXPECT_EQ(stats.acquired_total, 6u);
    EXPECT_EQ(stats.max_in_flight, 4u);
    EXPECT_EQ(stats.prefix_hits, 0u) << "the slot with the prompt was busy";
    if (stats.replicas.size() != 2u) {
      ADD_FAILURE() << "stats for " << stats.replicas.size() << " replicas";
      co_return;
    }
    EXPECT_EQ(stats.replicas[0].slots_busy, 2u);
    EXPECT_EQ(stats.replicas[0].acquired_total, 4u);
    EXPECT_EQ(stats.replicas[0].max_in_flight, 2u);
    EXPECT_TRUE(stats.replicas[0].available);
    EXPECT_EQ(stats.replicas[1].slots_busy, 0u);
    EXPECT_EQ(stats.replicas[1].acquired_total, 2u);
    EXPECT_EQ(stats.replicas[1].max_in_flight, 2u);
    EXPECT_FALSE(stats.replicas[1].available);
  });
}

}  // namespace
}  // namespace inference
