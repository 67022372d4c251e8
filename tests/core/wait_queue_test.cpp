#include "inference/wait_queue.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/system/error_code.hpp>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace inference {
namespace {

namespace asio = boost::asio;
using Queue = WaitQueue<void(boost::system::error_code, int)>;
const boost::system::error_code kCancelled = asio::error::operation_aborted;

Queue make_queue() {
  return Queue([](std::monostate&) { return kCancelled; });
}

struct Outcome {
  int calls = 0;
  boost::system::error_code error;
  int value = -1;
};

// A handler bound to `executor` that records how it was completed.
auto recorder(asio::io_context& context, Outcome& outcome) {
  return asio::bind_executor(context, [&outcome](boost::system::error_code ec, int value) {
    ++outcome.calls;
    outcome.error = ec;
    outcome.value = value;
  });
}

TEST(WaitQueue, NotifyOneCompletesTheFirstWaiterThroughItsExecutorNeverInline) {
  asio::io_context context;
  Queue queue = make_queue();
  Outcome first, second;
  queue.async_wait(recorder(context, first));
  queue.async_wait(recorder(context, second));
  EXPECT_EQ(queue.size(), 2u);
  EXPECT_TRUE(queue.notify_one(7));
  EXPECT_EQ(first.calls, 0);  // posted, not run inside notify_one()
  context.run();
  EXPECT_EQ(first.calls, 1);
  EXPECT_FALSE(first.error);
  EXPECT_EQ(first.value, 7);
  EXPECT_EQ(second.calls, 0);
  EXPECT_EQ(queue.size(), 1u);
  queue.abandon();
}

TEST(WaitQueue, NotifyOneOnAnEmptyQueueReportsNobodyWaited) {
  Queue queue = make_queue();
  EXPECT_FALSE(queue.notify_one(1));
  bool asked = false;
  EXPECT_FALSE(queue.notify_one_with([&](std::monostate&) {
    asked = true;
    return std::tuple<int>(1);
  }));
  EXPECT_FALSE(asked);  // the values are computed only for a waiter
}

TEST(WaitQueue, NotifyAllAndFailAllCompleteEveryWaiter) {
  asio::io_context context;
  Queue queue = make_queue();
  Outcome a, b, c;
  queue.async_wait(recorder(context, a));
  queue.async_wait(recorder(context, b));
  EXPECT_EQ(queue.notify_all(3), 2u);
  queue.async_wait(recorder(context, c));
  EXPECT_EQ(queue.fail_all(asio::error::connection_reset), 1u);
  context.run();
  EXPECT_EQ(a.value, 3);
  EXPECT_EQ(b.value, 3);
  EXPECT_EQ(c.calls, 1);
  EXPECT_EQ(c.error, asio::error::connection_reset);
  EXPECT_EQ(c.value, 0);  // values default-constructed with an error
  EXPECT_TRUE(queue.empty());
}

TEST(WaitQueue, CancellingOneWaiterRemovesItAndCompletesItWithTheCancelledError) {
  asio::io_context context;
  Queue queue = make_queue();
  asio::cancellation_signal signal;
  Outcome cancelled, other;
  queue.async_wait(asio::bind_cancellation_slot(signal.slot(), recorder(context, cancelled)));
  queue.async_wait(recorder(context, other));
  signal.emit(asio::cancellation_type::terminal);
  EXPECT_EQ(queue.size(), 1u);
  EXPECT_EQ(cancelled.calls, 0);  // never inline, not even a cancellation
  EXPECT_TRUE(queue.notify_one(5));
  context.run();
  EXPECT_EQ(cancelled.calls, 1);
  EXPECT_EQ(cancelled.error, kCancelled);
  EXPECT_EQ(other.value, 5);  // the cancelled waiter was not woken in its place
}

TEST(WaitQueue, CancellationAfterCompletionIsANoOp) {
  asio::io_context context;
  Queue queue = make_queue();
  asio::cancellation_signal signal;
  Outcome outcome;
  queue.async_wait(asio::bind_cancellation_slot(signal.slot(), recorder(context, outcome)));
  queue.notify_one(1);
  signal.emit(asio::cancellation_type::terminal);  // the completion is posted, not yet run
  context.run();
  EXPECT_EQ(outcome.calls, 1);
  EXPECT_FALSE(outcome.error);
  EXPECT_EQ(outcome.value, 1);
}

TEST(WaitQueue, PushAheadOrdersByDataAndTheWakerSeesTheData) {
  asio::io_context context;
  using Prioritised = WaitQueue<void(boost::system::error_code, int), int>;
  Prioritised queue([](int&) { return kCancelled; });
  std::vector<int> order;
  const auto push = [&](int priority) {
    auto handler =
        asio::bind_executor(context, [&order](boost::system::error_code, int value) { order.push_back(value); });
    queue.push(Prioritised::make_handler(std::move(handler)), priority,
               [priority](const int& queued) { return priority > queued; });
  };
  push(0);
  push(5);
  push(0);
  push(9);
  push(5);
  // Each waiter is woken with its own priority: highest first, FIFO within one.
  while (queue.notify_one_with([](int& priority) { return std::tuple<int>(priority); })) {
  }
  context.run();
  EXPECT_EQ(order, (std::vector<int>{9, 5, 5, 0, 0}));
}

// A queue whose waiters carry a number, and a handler that records the value it was woken with.
using Numbered = WaitQueue<void(boost::system::error_code, int), int>;

Numbered make_numbered() {
  return Numbered([](int&) { return kCancelled; });
}

void push_numbered(asio::io_context& context, Numbered& queue, std::vector<int>& woken, int number) {
  auto handler = asio::bind_executor(context, [&woken](boost::system::error_code ec, int value) {
    if (!ec) woken.push_back(value);
  });
  queue.push(Numbered::make_handler(std::move(handler)), number);
}

TEST(WaitQueue, NotifyOnePickedCompletesTheWaiterPickChoosesWithinTheWindow) {
  asio::io_context context;
  Numbered queue = make_numbered();
  std::vector<int> woken;
  for (int number : {10, 11, 12, 13}) push_numbered(context, queue, woken, number);
  std::vector<std::size_t> indices;
  const auto pick_12 = [&](int& number, std::size_t index) {
    indices.push_back(index);
    return number == 12;
  };
  const auto own_number = [](int& number) { return std::tuple<int>(number); };
  EXPECT_TRUE(queue.notify_one_picked(3, pick_12, own_number));
  EXPECT_EQ(indices, (std::vector<std::size_t>{0, 1, 2}));  // in queue order, stopping at the pick
  EXPECT_EQ(queue.size(), 3u);
  context.run();
  EXPECT_EQ(woken, (std::vector<int>{12}));
  queue.abandon();
}

TEST(WaitQueue, NotifyOnePickedTakesTheFirstWhenNothingInTheWindowIsPicked) {
  asio::io_context context;
  Numbered queue = make_numbered();
  std::vector<int> woken;
  for (int number : {10, 11, 12}) push_numbered(context, queue, woken, number);
  std::size_t asked = 0;
  const auto pick_12 = [&](int& number, std::size_t) {
    ++asked;
    return number == 12;
  };
  const auto own_number = [](int& number) { return std::tuple<int>(number); };
  EXPECT_TRUE(queue.notify_one_picked(2, pick_12, own_number));  // 12 is beyond the window
  EXPECT_EQ(asked, 2u);
  EXPECT_TRUE(queue.notify_one_picked(0, pick_12, own_number));  // no window: the first
  EXPECT_EQ(asked, 2u);
  context.run();
  EXPECT_EQ(woken, (std::vector<int>{10, 11}));
  EXPECT_EQ(queue.size(), 1u);
  queue.abandon();
  EXPECT_FALSE(queue.notify_one_picked(4, pick_12, own_number));  // nobody waits
  EXPECT_EQ(asked, 2u);
}

TEST(WaitQueue, NotifyOnePickedLetsTheWakerUpdateTheDataOfTheWaitersItLookedAt) {
  asio::io_context context;
  Numbered queue = make_numbered();
  std::vector<int> woken;
  for (int number : {1, 2, 3}) push_numbered(context, queue, woken, number);
  // Each waiter looked at and not picked gets 100 added; the third is picked.
  std::vector<int*> seen;
  EXPECT_TRUE(queue.notify_one_picked(
      3,
      [&](int& number, std::size_t index) {
        seen.push_back(&number);
        return index == 2;
      },
      [&](int& chosen) {
        for (int* number : seen) {
          if (number != &chosen) *number += 100;
        }
        return std::tuple<int>(chosen);
      }));
  while (queue.notify_one_with([](int& number) { return std::tuple<int>(number); })) {
  }
  context.run();
  EXPECT_EQ(woken, (std::vector<int>{3, 101, 102}));
  EXPECT_EQ(seen.size(), 3u);
}

TEST(WaitQueue, CompleteCountsAsPendingUntilTheHandlerRuns) {
  asio::io_context context;
  Queue queue = make_queue();
  std::size_t pending_seen_by_handler = 99;
  auto handler =
      asio::bind_executor(context, [&](boost::system::error_code, int) { pending_seen_by_handler = queue.pending(); });
  queue.complete(Queue::make_handler(std::move(handler)), {}, 1);
  EXPECT_EQ(queue.pending(), 1u);
  EXPECT_TRUE(queue.empty());  // completed at once, never queued
  Outcome refused;
  Queue::post(Queue::make_handler(recorder(context, refused)), asio::error::in_progress, 0);
  EXPECT_EQ(queue.pending(), 1u);  // post() is not the queue's
  context.run();
  EXPECT_EQ(pending_seen_by_handler, 0u);  // so the handler may wait again
  EXPECT_EQ(refused.error, asio::error::in_progress);
}

TEST(WaitQueue, DestructionCompletesTheRemainingWaitersAsCancelled) {
  asio::io_context context;
  Outcome outcome;
  {
    Queue queue = make_queue();
    queue.async_wait(recorder(context, outcome));
  }
  context.run();
  EXPECT_EQ(outcome.calls, 1);
  EXPECT_EQ(outcome.error, kCancelled);
}

TEST(WaitQueue, AbandonDestroysTheHandlersWithoutRunningThem) {
  asio::io_context context;
  Queue queue = make_queue();
  auto alive = std::make_shared<int>(0);
  std::weak_ptr<int> watch = alive;
  queue.async_wait(asio::bind_executor(context, [alive = std::move(alive)](boost::system::error_code, int) {
    ADD_FAILURE() << "an abandoned handler ran";
  }));
  queue.abandon();
  EXPECT_TRUE(watch.expired());
  EXPECT_EQ(queue.pending(), 0u);
  EXPECT_EQ(context.run(), 0u);
}

// Many threads: waiters on their own strands, woken by one thread and cancelled by others at
// the same time. Every waiter completes exactly once, woken or cancelled, and none is lost.
TEST(WaitQueue, ConcurrentNotifyAndCancelCompleteEveryWaiterExactlyOnce) {
  constexpr int kWaiters = 2'000;
  asio::thread_pool pool(4);
  Queue queue = make_queue();
  std::atomic<int> woken{0};
  std::atomic<int> cancelled{0};
  std::atomic<int> calls{0};
  struct Waiter {
    explicit Waiter(asio::thread_pool& p) : strand(asio::make_strand(p)) {}
    asio::strand<asio::thread_pool::executor_type> strand;
    asio::cancellation_signal signal;
  };
  std::vector<std::unique_ptr<Waiter>> waiters;
  for (int i = 0; i < kWaiters; ++i) waiters.push_back(std::make_unique<Waiter>(pool));
  for (auto& w : waiters) {
    // Started on the waiter's strand, where its cancellation is emitted too (Asio's rule).
    asio::post(w->strand, [&, raw = w.get()] {
      queue.async_wait(asio::bind_cancellation_slot(
          raw->signal.slot(), asio::bind_executor(raw->strand, [&](boost::system::error_code ec, int) {
            ++calls;
            ++(ec ? cancelled : woken);
          })));
    });
  }
  std::thread waker([&] {
    while (woken.load() + cancelled.load() < kWaiters) {
      queue.notify_one(1);
      std::this_thread::yield();
    }
  });
  for (int i = 0; i < kWaiters; i += 2) {
    asio::post(waiters[i]->strand, [raw = waiters[i].get()] { raw->signal.emit(asio::cancellation_type::terminal); });
  }
  waker.join();
  pool.join();
  EXPECT_EQ(calls.load(), kWaiters);
  EXPECT_EQ(woken.load() + cancelled.load(), kWaiters);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.pending(), 0u);
}

// notify_one_picked() from one thread, picking waiters from the middle of the queue, while
// others cancel: every waiter completes exactly once, with its own number when woken.
TEST(WaitQueue, ConcurrentNotifyPickedAndCancelCompleteEveryWaiterExactlyOnce) {
  constexpr int kWaiters = 2'000;
  constexpr std::size_t kWindow = 4;
  asio::thread_pool pool(4);
  Numbered queue = make_numbered();
  std::atomic<int> woken{0};
  std::atomic<int> cancelled{0};
  std::atomic<int> wrong_value{0};
  struct Waiter {
    explicit Waiter(asio::thread_pool& p) : strand(asio::make_strand(p)) {}
    asio::strand<asio::thread_pool::executor_type> strand;
    asio::cancellation_signal signal;
  };
  std::vector<std::unique_ptr<Waiter>> waiters;
  for (int i = 0; i < kWaiters; ++i) waiters.push_back(std::make_unique<Waiter>(pool));
  for (int i = 0; i < kWaiters; ++i) {
    asio::post(waiters[i]->strand, [&, i, raw = waiters[i].get()] {
      auto handler = asio::bind_cancellation_slot(
          raw->signal.slot(), asio::bind_executor(raw->strand, [&, i](boost::system::error_code ec, int value) {
            if (ec) {
              ++cancelled;
            } else {
              ++woken;
              if (value != i) ++wrong_value;
            }
          }));
      queue.push(Numbered::make_handler(std::move(handler)), i);
    });
  }
  std::thread waker([&] {
    while (woken.load() + cancelled.load() < kWaiters) {
      queue.notify_one_picked(
          kWindow, [](int& number, std::size_t index) { return index > 0 && number % 3 == 0; },
          [](int& number) { return std::tuple<int>(number); });
      std::this_thread::yield();
    }
  });
  for (int i = 0; i < kWaiters; i += 2) {
    asio::post(waiters[i]->strand, [raw = waiters[i].get()] { raw->signal.emit(asio::cancellation_type::terminal); });
  }
  waker.join();
  pool.join();
  EXPECT_EQ(woken.load() + cancelled.load(), kWaiters);
  EXPECT_EQ(wrong_value.load(), 0);
  EXPECT_TRUE(queue.empty());
  EXPECT_EQ(queue.pending(), 0u);
}

// fail_all() racing with waiters arriving and cancelling: nothing completes twice.
TEST(WaitQueue, ConcurrentFailAllAndCancelCompleteEveryWaiterExactlyOnce) {
  constexpr int kRounds = 500;
  asio::thread_pool pool(4);
  Queue queue = make_queue();
  std::atomic<int> calls{0};
  std::vector<std::unique_ptr<asio::cancellation_signal>> signals;
  for (int i = 0; i < kRounds; ++i) signals.push_back(std::make_unique<asio::cancellation_signal>());
  auto strand = asio::make_strand(pool);
  for (int i = 0; i < kRounds; ++i) {
    asio::post(strand, [&, i] {
      queue.async_wait(asio::bind_cancellation_slot(
          signals[i]->slot(), asio::bind_executor(strand, [&](boost::system::error_code, int) { ++calls; })));
    });
    asio::post(pool, [&] { queue.fail_all(asio::error::shut_down); });
    asio::post(strand, [&, i] { signals[i]->emit(asio::cancellation_type::terminal); });
  }
  // Each waiter's cancellation is emitted after it was pushed (same strand), so every one is
  // completed by a fail_all() or by its cancellation; join() returns once all handlers ran.
  pool.join();
  EXPECT_EQ(calls.load(), kRounds);
  EXPECT_TRUE(queue.empty());
}

}  // namespace
}  // namespace inference
