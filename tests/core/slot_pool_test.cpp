#include "inference/slot_pool.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
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

}  // namespace
}  // namespace inference
