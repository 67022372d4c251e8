// WaitQueue: the asynchronous waiters of one event (a free slot, a token, a started server, a
// child's exit), as one primitive. Every class that lets a coroutine wait for something it
// signals later uses it instead of storing completion handlers by hand.
//
// A waiter is an Asio asynchronous operation with the signature void(Error, Values...), where
// Error is std::exception_ptr or an error code (a default-constructed Error means success). It
// completes in one of four ways, always through its handler's associated executor and never
// inside the call that completes it (so no handler runs under its owner's lock):
//   notify_one() / notify_all(): with a default Error and the given values;
//   fail_all(): with an error (values default-constructed);
//   its own per-operation cancellation (terminal, partial or total): it leaves the queue in
//     O(1) and completes with the error the queue's `cancelled` function makes;
//   the queue's destruction: as if cancelled. abandon() instead destroys the waiters without
//     running them, for when their executor's context is being destroyed.
// Each waiter may carry Data (e.g. a priority and a session) that the waker can look at to
// compute the values it completes with, and by which it can be queued ahead of others.
//
// Thread-safety: every member is thread-safe (one internal mutex). An owner that checks its own
// state before waiting ("is the slot free? else wait") makes the check and push() one step under
// its own mutex, and notifies under that mutex too, so that no wake-up is lost; the queue's
// mutex is always taken after the owner's, never before (a cancellation takes only the queue's).
// The functions the queue calls back (`cancelled`, the `values_for` of notify_one_with, the
// `pick` of notify_one_picked, the `goes_before` of push) run under the queue's mutex, except
// `cancelled`, which runs outside it.
//
// Ownership: the queue's state is shared with its waiters' cancellation handlers and pending
// completions, so a cancellation arriving after the queue is gone is a no-op. Declare the queue
// after the members its `cancelled` function uses. That state is allocated by the first
// operation started on the queue, so a queue nobody waits on (most of a stream's) costs no heap.
//
// Boost 1.81: any_completion_handler's move *assignment* wraps the handler in itself until the
// stack overflows (its converting constructor also matches a non-const lvalue of its own type).
// Handlers are therefore only ever move-constructed here, never assigned. And blocking.never can
// neither be required of an any_completion_executor (so asio::post cannot be used) nor
// reliably preferred once the handler is type-erased (a strand inside it then runs the handler
// inline when completed from the strand). So make_handler() binds blocking.never to the
// handler's own executor *before* erasing it, and a completion goes through that executor's
// execute().
#pragma once

#include <atomic>
#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_type.hpp>
#include <boost/asio/execution/blocking.hpp>
#include <boost/asio/prefer.hpp>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace inference {

template <class Signature, class Data = std::monostate>
class WaitQueue;

template <class Error, class... Values, class Data>
class WaitQueue<void(Error, Values...), Data> {
 public:
  using Signature = void(Error, Values...);
  using Handler = boost::asio::any_completion_handler<Signature>;
  // Makes the error a waiter that was cancelled completes with, from its data. A plain function
  // (a lambda without captures): it keeps every queue one pointer smaller than std::function.
  using Cancelled = Error (*)(Data&);

  explicit WaitQueue(Cancelled cancelled) : cancelled_(cancelled) {}
  WaitQueue(const WaitQueue&) = delete;
  WaitQueue& operator=(const WaitQueue&) = delete;
  ~WaitQueue() {
    if (Core* core = core_.load(std::memory_order_acquire)) core->cancel_all();
  }

  // Type-erases an initiation's handler for push(), complete() or post(), with blocking.never
  // bound to its associated executor (see above). Every handler given to the queue is made here.
  template <class CompletionHandler>
  static Handler make_handler(CompletionHandler&& handler) {
    auto executor =
        boost::asio::prefer(boost::asio::get_associated_executor(handler), boost::asio::execution::blocking.never);
    return Handler(boost::asio::bind_executor(std::move(executor), std::forward<CompletionHandler>(handler)));
  }

  // Waits unconditionally (FIFO), carrying `data`.
  template <boost::asio::completion_token_for<Signature> CompletionToken>
  auto async_wait(CompletionToken&& token, Data data = Data()) {
    return boost::asio::async_initiate<CompletionToken, Signature>(
        [](auto handler, std::shared_ptr<Core> core, Data d) {
          core->push(make_handler(std::move(handler)), std::move(d), [](const Data&) { return false; });
        },
        token, core().shared_from_this(), std::move(data));
  }

  // Queues an initiated operation's handler at the back (for an initiation that first checked
  // its owner's state, see the header comment).
  void push(Handler handler, Data data = Data()) {
    core().push(std::move(handler), std::move(data), [](const Data&) { return false; });
  }
  // The same, ahead of every waiter at the back of the queue for which goes_before(its data)
  // is true: with `priority > other.priority`, highest priority first and FIFO within one.
  template <class GoesBefore>
  void push(Handler handler, Data data, GoesBefore goes_before) {
    core().push(std::move(handler), std::move(data), std::move(goes_before));
  }

  // Completes an operation at once (through its executor) without queueing it: for an
  // initiation whose condition already holds. Counts in pending() until its handler runs.
  void complete(Handler handler, Error error, Values... values) {
    Core& c = core();
    c.pending.fetch_add(1, std::memory_order_acq_rel);
    dispatch(c.shared_from_this(), std::move(handler), std::move(error), std::move(values)...);
  }
  // Completes a handler this queue does not take (e.g. one waiter too many) through its
  // executor, never inline; not counted in pending().
  static void post(Handler handler, Error error, Values... values) {
    dispatch(nullptr, std::move(handler), std::move(error), std::move(values)...);
  }

  // Completes the first waiter with (Error(), values...). False when nobody waits.
  bool notify_one(Values... values) {
    return notify_one_with([&](Data&) { return std::tuple<Values...>(std::move(values)...); });
  }
  // Completes the first waiter with (Error(), values_for(its data)...), where values_for
  // returns std::tuple<Values...> and is called only when there is a waiter, under the lock.
  template <class ValuesFor>
  bool notify_one_with(ValuesFor&& values_for) {
    return notify_one_picked(
        0, [](Data&, std::size_t) { return false; }, std::forward<ValuesFor>(values_for));
  }
  // Completes one of the first `window` waiters, for a waker that prefers a waiter other than
  // the first (e.g. one whose data matches what was freed): pick(data, index) is called for
  // them in queue order, under the lock, until it returns true, and that waiter is completed
  // with values_for(its data) as in notify_one_with(); when pick never does (or window is 0),
  // the first waiter is. False when nobody waits.
  template <class Pick, class ValuesFor>
  bool notify_one_picked(std::size_t window, Pick&& pick, ValuesFor&& values_for) {
    Core* core = core_.load(std::memory_order_acquire);
    return core && core->notify_one(window, std::forward<Pick>(pick), std::forward<ValuesFor>(values_for));
  }
  // Completes every waiter with (Error(), values...); returns how many there were.
  std::size_t notify_all(Values... values) {
    Core* core = core_.load(std::memory_order_acquire);
    return core ? core->complete_all(Error(), values...) : 0;
  }
  // Completes every waiter with `error`; returns how many there were.
  std::size_t fail_all(Error error) {
    Core* core = core_.load(std::memory_order_acquire);
    return core ? core->complete_all(std::move(error), Values()...) : 0;
  }
  // Destroys every waiter's handler without running it (nor its cancellation).
  void abandon() noexcept {
    if (Core* core = core_.load(std::memory_order_acquire)) core->abandon();
  }

  std::size_t size() const noexcept {
    const Core* core = core_.load(std::memory_order_acquire);
    return core ? core->queued.load(std::memory_order_acquire) : 0;
  }
  bool empty() const noexcept { return size() == 0; }
  // Operations started on this queue (queued, or completed through complete()/notify/fail/
  // cancellation) whose handlers have not started to run yet. Lets an owner refuse a second
  // wait while one is still outstanding, up to the moment its handler runs.
  std::size_t pending() const noexcept {
    const Core* core = core_.load(std::memory_order_acquire);
    return core ? core->pending.load(std::memory_order_acquire) : 0;
  }

 private:
  struct Waiter;
  using List = std::list<std::shared_ptr<Waiter>>;

  struct Waiter {
    Waiter(Handler h, Data d) : handler(std::in_place, std::move(h)), data(std::move(d)) {}
    std::optional<Handler> handler;  // emplaced once, moved out (constructed) once
    Data data;
    typename List::iterator position;
    bool queued = false;  // guarded by Core::mutex
  };

  struct Core : std::enable_shared_from_this<Core> {
    explicit Core(Cancelled c) : cancelled(c) {}

    template <class GoesBefore>
    void push(Handler handler, Data data, GoesBefore goes_before) {
      auto waiter = std::make_shared<Waiter>(std::move(handler), std::move(data));
      std::lock_guard lock(mutex);
      auto at = waiters.end();
      while (at != waiters.begin() && goes_before(std::as_const((*std::prev(at))->data))) --at;
      waiter->position = waiters.insert(at, waiter);
      waiter->queued = true;
      queued.fetch_add(1, std::memory_order_acq_rel);
      pending.fetch_add(1, std::memory_order_acq_rel);
      // Under the lock: once it is released the waiter may complete and its coroutine go on to
      // assign another operation's handler to the same slot.
      auto slot = boost::asio::get_associated_cancellation_slot(*waiter->handler);
      if (slot.is_connected()) {
        slot.assign([weak_core = this->weak_from_this(),
                     weak_waiter = std::weak_ptr<Waiter>(waiter)](boost::asio::cancellation_type) {
          auto core = weak_core.lock();
          auto w = weak_waiter.lock();
          if (core && w) core->cancel(*w);
        });
      }
    }

    // Takes `waiter` out of the list; mutex held.
    Handler take_locked(Waiter& waiter) {
      waiters.erase(waiter.position);
      waiter.queued = false;
      queued.fetch_sub(1, std::memory_order_acq_rel);
      Handler handler(std::move(*waiter.handler));
      waiter.handler.reset();
      return handler;
    }

    void cancel(Waiter& waiter) {
      std::optional<Handler> handler;
      {
        std::lock_guard lock(mutex);
        if (!waiter.queued) return;  // already completed: a late cancellation is a no-op
        handler.emplace(take_locked(waiter));
      }
      dispatch(this->shared_from_this(), std::move(*handler), cancelled(waiter.data), Values()...);
    }

    template <class Pick, class ValuesFor>
    bool notify_one(std::size_t window, Pick&& pick, ValuesFor&& values_for) {
      if (queued.load(std::memory_order_acquire) == 0) return false;
      std::lock_guard lock(mutex);
      if (waiters.empty()) return false;
      std::shared_ptr<Waiter> waiter = waiters.front();
      std::size_t index = 0;
      for (auto it = waiters.begin(); it != waiters.end() && index < window; ++it, ++index) {
        if (pick((*it)->data, index)) {
          waiter = *it;
          break;
        }
      }
      std::tuple<Values...> values = values_for(waiter->data);
      Handler handler = take_locked(*waiter);
      std::apply([&](auto&&... v) { dispatch(this->shared_from_this(), std::move(handler), Error(), std::move(v)...); },
                 std::move(values));
      return true;
    }

    std::size_t complete_all(const Error& error, const Values&... values) {
      if (queued.load(std::memory_order_acquire) == 0) return 0;
      std::lock_guard lock(mutex);
      std::size_t count = 0;
      while (!waiters.empty()) {
        std::shared_ptr<Waiter> waiter = waiters.front();
        dispatch(this->shared_from_this(), take_locked(*waiter), error, values...);
        ++count;
      }
      return count;
    }

    void cancel_all() {
      List doomed;
      {
        std::lock_guard lock(mutex);
        doomed.swap(waiters);
        for (auto& w : doomed) w->queued = false;
        queued.store(0, std::memory_order_release);
      }
      for (auto& w : doomed) {
        Handler handler(std::move(*w->handler));
        w->handler.reset();
        dispatch(this->shared_from_this(), std::move(handler), cancelled(w->data), Values()...);
      }
    }

    void abandon() noexcept {
      List doomed;
      {
        std::lock_guard lock(mutex);
        doomed.swap(waiters);
        for (auto& w : doomed) w->queued = false;
        queued.store(0, std::memory_order_release);
        pending.fetch_sub(doomed.size(), std::memory_order_acq_rel);
      }
      // Destroyed here, outside the lock: a handler's destructor may end a coroutine.
    }

    std::mutex mutex;
    List waiters;
    const Cancelled cancelled;
    std::atomic<std::size_t> queued{0};   // waiters.size(), readable without the lock
    std::atomic<std::size_t> pending{0};  // see WaitQueue::pending()
  };

  // Runs `handler` with the arguments on its own executor, never inline. With a `core`, that
  // core's pending count drops just before the handler runs, so the handler may wait again.
  template <class... Args>
  static void dispatch(std::shared_ptr<Core> core, Handler handler, Args&&... args) {
    auto executor = boost::asio::get_associated_executor(handler);
    boost::asio::prefer(executor, boost::asio::execution::blocking.never)
        .execute([core = std::move(core), handler = std::move(handler),
                  args = std::make_tuple(std::decay_t<Args>(std::forward<Args>(args))...)]() mutable {
          if (core) core->pending.fetch_sub(1, std::memory_order_acq_rel);
          std::apply([&](auto&&... a) { std::move(handler)(std::move(a)...); }, std::move(args));
        });
  }

  // The shared state, made by the first operation that needs it. Two threads may race to make
  // it: one wins the exchange, the other's copy is dropped. `owner_` is written once, by the
  // winner, and read only by the destructor.
  Core& core() {
    if (Core* core = core_.load(std::memory_order_acquire)) return *core;
    auto fresh = std::make_shared<Core>(cancelled_);
    Core* existing = nullptr;
    if (!core_.compare_exchange_strong(existing, fresh.get(), std::memory_order_acq_rel)) return *existing;
    owner_ = std::move(fresh);
    return *owner_;
  }

  const Cancelled cancelled_;
  std::atomic<Core*> core_{nullptr};
  std::shared_ptr<Core> owner_;
};

}  // namespace inference
