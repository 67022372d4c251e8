#include "inference/slot_pool.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <deque>
#include <limits>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include "inference/error.hpp"
#include "inference/wait_queue.hpp"
#include "slot_table.hpp"

namespace inference {
namespace detail {

namespace asio = boost::asio;

// Where the slots are (SlotTable) and who waits for one (WaitQueue), under one mutex.
class SlotPoolCore : public std::enable_shared_from_this<SlotPoolCore> {
 public:
  // Completes with the slot's number over every replica.
  using Signature = void(std::exception_ptr, uint32_t);
  // What a queued request is woken by: its priority orders the queue; its session and prompt
  // say which freed slot suits it; passed_over counts the times a later waiter got a slot first.
  struct SlotWaiter {
    int32_t priority = 0;
    std::string session;
    std::string prompt;  // its first prefix_key_bytes
    uint32_t passed_over = 0;
  };
  using Queue = WaitQueue<Signature, SlotWaiter>;
  using Handler = Queue::Handler;
  using IdleQueue = WaitQueue<void(std::exception_ptr)>;

  explicit SlotPoolCore(const SlotPoolOptions& options) : options_(options), table_(options) {
    for (uint32_t r = 0; r < options.replicas; ++r) replica_idle_.emplace_back(&idle_cancelled);
  }

  // Without the lock only for its numbering (size, replicas, replica_of, slot_of...), which is
  // fixed at construction.
  const SlotTable& table() const noexcept { return table_; }

  // Takes a free slot now when nobody is queued. Throws when closed.
  std::optional<uint32_t> try_acquire(const SlotRequest& request) {
    std::lock_guard lock(mutex_);
    return try_acquire_locked(request);
  }

  void enqueue(const SlotRequest& request, Handler handler) {
    std::lock_guard lock(mutex_);
    std::optional<uint32_t> slot;
    try {
      slot = try_acquire_locked(request);
      if (!slot && waiters_.size() >= options_.queue_limit) {
        ++rejected_total_;
        throw Error(errc::overloaded, "queue limit " + std::to_string(options_.queue_limit) + " reached");
      }
    } catch (const Error&) {
      return waiters_.complete(std::move(handler), std::current_exception(), 0);
    }
    if (slot) return waiters_.complete(std::move(handler), nullptr, *slot);
    // Highest priority first, FIFO within a priority.
    waiters_.push(std::move(handler),
                  SlotWaiter{request.priority, request.session, std::string(table_.prefix_key(request.prompt)), 0},
                  [priority = request.priority](const SlotWaiter& queued) { return priority > queued.priority; });
  }

  void release(uint32_t slot) noexcept {
    std::lock_guard lock(mutex_);
    table_.give_back(slot);
    const uint32_t replica = table_.replica_of(slot);
    if (table_.available(replica) && hand_on_locked(slot)) return;
    if (table_.busy(replica) == 0) replica_idle_[replica].notify_all();
    notify_idle_locked();
  }

  // A waiter that failed (cancelled, closed) has left the queue: that may make the pool idle.
  void waiter_left() {
    std::lock_guard lock(mutex_);
    notify_idle_locked();
  }

  void set_replica_available(uint32_t replica, bool available) {
    std::lock_guard lock(mutex_);
    if (table_.available(replica) == available) return;
    table_.set_available(replica, available);
    if (!available) return;
    for (uint32_t slot : table_.free_slots(replica)) {
      if (!hand_on_locked(slot)) break;
    }
  }

  void close(std::error_code reason, std::string context) {
    std::lock_guard lock(mutex_);
    closed_ = true;
    close_reason_ = reason;
    close_context_ = std::move(context);
    waiters_.fail_all(std::make_exception_ptr(Error(reason, close_context_)));
    notify_idle_locked();
  }

  // Completes `handler` once no slot is held and nobody waits or, for a replica, once none of
  // its slots is held.
  void wait_idle(std::optional<uint32_t> replica, IdleQueue::Handler handler) {
    std::lock_guard lock(mutex_);
    IdleQueue& queue = replica ? replica_idle_[*replica] : idle_;
    const bool idle = replica ? table_.busy(*replica) == 0 : table_.busy() == 0 && waiters_.empty();
    if (idle) return queue.complete(std::move(handler), nullptr);
    queue.push(std::move(handler));
  }

  SlotPoolStats stats() const {
    std::lock_guard lock(mutex_);
    return SlotPoolStats{
        .slots_total = table_.size(),
        .slots_busy = table_.busy(),
        .queue_depth = waiters_.size(),
        .max_in_flight = table_.max_in_flight(),
        .acquired_total = acquired_total_,
        .rejected_total = rejected_total_,
        .affinity_hits = affinity_hits_,
        .prefix_hits = prefix_hits_,
        .replicas = table_.stats(),
    };
  }

 private:
  static std::exception_ptr idle_cancelled(std::monostate&) {
    return std::make_exception_ptr(Error(errc::cancelled, "waiting for the slot pool to be idle"));
  }

  std::optional<uint32_t> try_acquire_locked(const SlotRequest& request) {
    if (closed_) throw Error(close_reason_, close_context_);
    // Queued requests come first; none waits while an available replica has a free slot.
    if (!waiters_.empty()) return std::nullopt;
    const std::optional<SlotChoice> choice = table_.choose(request.session, request.prompt);
    if (!choice) return std::nullopt;
    take_locked(*choice, request.session, request.prompt);
    return choice->slot;
  }

  // Gives the free `slot` to a waiter: the first of the highest priority, or the first of the
  // next `lookahead` of that priority that the slot suits when it does not suit the first and
  // the first has not been passed over `lookahead` times yet. False when nobody waits.
  bool hand_on_locked(uint32_t slot) {
    std::vector<SlotWaiter*> seen;  // in queue order, up to the one picked
    const auto suits = [&](const SlotWaiter& w) { return table_.match(slot, w.session, w.prompt) != SlotMatch::none; };
    const auto pick = [&](SlotWaiter& waiter, std::size_t index) {
      seen.push_back(&waiter);
      if (index == 0) return waiter.passed_over >= options_.lookahead || suits(waiter);
      return waiter.priority == seen.front()->priority && suits(waiter);
    };
    return waiters_.notify_one_picked(options_.lookahead + std::size_t{1}, pick, [&](SlotWaiter& chosen) {
      // Everyone ahead of a waiter picked further back was passed over (same priority, as the
      // queue is ordered by priority). The first has been passed over the most of them.
      if (&chosen != seen.front()) {
        for (SlotWaiter* w : seen) {
          if (w != &chosen) ++w->passed_over;
        }
      }
      take_locked(SlotChoice{slot, table_.match(slot, chosen.session, chosen.prompt)}, chosen.session, chosen.prompt);
      return std::tuple<uint32_t>(slot);
    });
  }

  void take_locked(const SlotChoice& choice, std::string_view session, std::string_view prompt) {
    table_.take(choice.slot, session, prompt);
    ++acquired_total_;
    if (choice.match == SlotMatch::session) ++affinity_hits_;
    if (choice.match == SlotMatch::prefix) ++prefix_hits_;
  }

  void notify_idle_locked() {
    if (table_.busy() == 0 && waiters_.empty()) idle_.notify_all();
  }

  const SlotPoolOptions options_;
  mutable std::mutex mutex_;
  SlotTable table_;
  uint64_t acquired_total_ = 0;
  uint64_t rejected_total_ = 0;
  uint64_t affinity_hits_ = 0;
  uint64_t prefix_hits_ = 0;
  bool closed_ = false;
  std::error_code close_reason_;
  std::string close_context_;
  // Last: their cancellation functions use nothing above, but their destructors complete
  // waiters, which must find the pool's state intact.
  Queue waiters_{[](SlotWaiter&) { return std::make_exception_ptr(Error(errc::cancelled, "waiting for a slot")); }};
  IdleQueue idle_{&idle_cancelled};
  std::deque<IdleQueue> replica_idle_;  // one per replica (a deque: a WaitQueue cannot move)
};

}  // namespace detail

namespace asio = boost::asio;

namespace {

void validate(const SlotPoolOptions& options) {
  const auto invalid = [](const std::string& what) { return Error(errc::invalid_argument, "slot pool: " + what); };
  if (options.slots == 0) throw invalid("slots must be at least 1");
  if (options.replicas == 0) throw invalid("replicas must be at least 1");
  if (uint64_t{options.slots} * options.replicas > std::numeric_limits<uint32_t>::max()) {
    throw invalid("slots x replicas (" + std::to_string(options.slots) + " x " + std::to_string(options.replicas) +
                  ") exceeds the slot numbering");
  }
  if (!(options.min_prefix_share > 0.0 && options.min_prefix_share <= 1.0)) {
    throw invalid("min_prefix_share must be in (0, 1], got " + std::to_string(options.min_prefix_share));
  }
}

void check_replica(uint32_t replica, uint32_t replicas) {
  if (replica >= replicas) {
    throw Error(errc::invalid_argument, "slot pool: replica " + std::to_string(replica) +
                                            " out of range (the pool has " + std::to_string(replicas) + ")");
  }
}

// Completes with true once the pool (or `replica`) is idle, with false when `deadline` passes first.
asio::awaitable<bool> wait_until_idle(std::shared_ptr<detail::SlotPoolCore> core, std::optional<uint32_t> replica,
                                      std::chrono::steady_clock::time_point deadline) {
  const asio::any_io_executor executor = co_await asio::this_coro::executor;
  // Bound to the awaiting coroutine's executor: in Boost 1.81 an operation of a parallel group
  // has no associated executor, so the waiter would complete on the system executor's threads,
  // which then finish the group's completion there, touching the coroutine's io_context after
  // it may have been destroyed (seen as a crash when a test destroyed its io_context right
  // after a model's close()).
  auto idle = asio::async_initiate<const asio::deferred_t, void(std::exception_ptr)>(
      [replica, executor](auto handler, std::shared_ptr<detail::SlotPoolCore> c) {
        c->wait_idle(replica,
                     detail::SlotPoolCore::IdleQueue::make_handler(asio::bind_executor(executor, std::move(handler))));
      },
      asio::deferred, std::move(core));
  // Two plain operations in a parallel group (no co_spawn, so this is safe on any executor,
  // multi-threaded too): the first to complete cancels the other.
  asio::steady_timer timer(executor, deadline);
  const auto [order, idle_error, timer_error] =
      co_await asio::experimental::make_parallel_group(std::move(idle), timer.async_wait(asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  // Not the order: when the pool is idle already, both complete at once and the timer may run
  // first, but the idle wait then completed too instead of being cancelled.
  co_return !idle_error;
}

}  // namespace

SlotLease::SlotLease(std::shared_ptr<detail::SlotPoolCore> core, uint32_t replica, uint32_t slot,
                     std::chrono::nanoseconds waited) noexcept
    : core_(std::move(core)), replica_(replica), slot_(slot), waited_(waited) {}

SlotLease::SlotLease(SlotLease&& other) noexcept
    : core_(std::move(other.core_)), replica_(other.replica_), slot_(other.slot_), waited_(other.waited_) {}

SlotLease& SlotLease::operator=(SlotLease&& other) noexcept {
  if (this != &other) {
    release();
    core_ = std::move(other.core_);
    replica_ = other.replica_;
    slot_ = other.slot_;
    waited_ = other.waited_;
  }
  return *this;
}

SlotLease::~SlotLease() { release(); }

void SlotLease::release() noexcept {
  if (auto core = std::move(core_)) core->release(core->table().slot_of(replica_, slot_));
}

SlotPool::SlotPool(SlotPoolOptions options) {
  validate(options);
  core_ = std::make_shared<detail::SlotPoolCore>(options);
}

SlotPool::~SlotPool() { core_->close(make_error_code(errc::closed), "slot pool destroyed"); }

asio::awaitable<SlotLease> SlotPool::acquire(SlotRequest request) {
  // A copy: once this coroutine waits, the SlotPool itself may be destroyed.
  std::shared_ptr<detail::SlotPoolCore> core = core_;
  const auto started = std::chrono::steady_clock::now();
  const auto lease = [&](uint32_t slot, std::chrono::nanoseconds waited) {
    return SlotLease(core, core->table().replica_of(slot), core->table().index_in_replica(slot), waited);
  };
  if (auto slot = core->try_acquire(request)) co_return lease(*slot, std::chrono::nanoseconds(0));
  uint32_t slot = 0;
  try {
    slot = co_await asio::async_initiate<const asio::use_awaitable_t<>, detail::SlotPoolCore::Signature>(
        [](auto handler, detail::SlotPoolCore* c, const SlotRequest* r) {
          c->enqueue(*r, detail::SlotPoolCore::Queue::make_handler(std::move(handler)));
        },
        asio::use_awaitable, core.get(), &request);
  } catch (...) {
    core->waiter_left();
    throw;
  }
  co_return lease(slot, std::chrono::steady_clock::now() - started);
}

asio::awaitable<bool> SlotPool::wait_idle(std::chrono::steady_clock::time_point deadline) {
  co_return co_await wait_until_idle(core_, std::nullopt, deadline);
}

asio::awaitable<bool> SlotPool::wait_replica_idle(uint32_t replica, std::chrono::steady_clock::time_point deadline) {
  check_replica(replica, replicas());
  co_return co_await wait_until_idle(core_, replica, deadline);
}

void SlotPool::set_replica_available(uint32_t replica, bool available) {
  check_replica(replica, replicas());
  core_->set_replica_available(replica, available);
}

void SlotPool::close(std::error_code reason, std::string context) { core_->close(reason, std::move(context)); }

SlotPoolStats SlotPool::stats() const { return core_->stats(); }

uint32_t SlotPool::size() const noexcept { return core_->table().size(); }

uint32_t SlotPool::replicas() const noexcept { return core_->table().replicas(); }

}  // namespace inference
