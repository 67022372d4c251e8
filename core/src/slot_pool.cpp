#include "inference/slot_pool.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include "inference/error.hpp"
#include "inference/wait_queue.hpp"

namespace inference {
namespace detail {

namespace asio = boost::asio;

class SlotPoolCore : public std::enable_shared_from_this<SlotPoolCore> {
 public:
  using Signature = void(std::exception_ptr, uint32_t);
  // What a queued request is woken by: its priority orders the queue, its session picks the
  // slot's next owner.
  struct SlotWaiter {
    int32_t priority = 0;
    std::string session;
  };
  using Queue = WaitQueue<Signature, SlotWaiter>;
  using Handler = Queue::Handler;
  using IdleQueue = WaitQueue<void(std::exception_ptr)>;

  explicit SlotPoolCore(SlotPoolOptions options) : options_(options), slots_(options.slots) {}

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
    waiters_.push(std::move(handler), SlotWaiter{request.priority, request.session},
                  [priority = request.priority](const SlotWaiter& queued) { return priority > queued.priority; });
  }

  void release(uint32_t slot) noexcept {
    std::lock_guard lock(mutex_);
    // Hand the slot straight to the first waiter of the highest priority.
    const bool handed_on = waiters_.notify_one_with([&](const SlotWaiter& waiter) {
      assign_locked(slot, waiter.session);
      return std::tuple<uint32_t>(slot);
    });
    if (handed_on) return;
    slots_[slot].busy = false;
    slots_[slot].last_used = ++clock_;
    if (--busy_ == 0) idle_.notify_all();
  }

  void close(std::error_code reason, std::string context) {
    std::lock_guard lock(mutex_);
    closed_ = true;
    close_reason_ = reason;
    close_context_ = std::move(context);
    waiters_.fail_all(std::make_exception_ptr(Error(reason, close_context_)));
  }

  void wait_idle(IdleQueue::Handler handler) {
    std::lock_guard lock(mutex_);
    if (busy_ == 0 && waiters_.empty()) return idle_.complete(std::move(handler), nullptr);
    idle_.push(std::move(handler));
  }

  SlotPoolStats stats() const {
    std::lock_guard lock(mutex_);
    return SlotPoolStats{
        .slots_total = options_.slots,
        .slots_busy = busy_,
        .queue_depth = waiters_.size(),
        .max_in_flight = max_in_flight_,
        .acquired_total = acquired_total_,
        .rejected_total = rejected_total_,
        .affinity_hits = affinity_hits_,
        .prefix_hits = 0,
        .replicas = {},
    };
  }

  uint32_t size() const noexcept { return options_.slots; }

 private:
  struct Slot {
    bool busy = false;
    uint64_t last_used = 0;
    std::string session;  // the session it served last
  };

  std::optional<uint32_t> try_acquire_locked(const SlotRequest& request) {
    if (closed_) throw Error(close_reason_, close_context_);
    if (!waiters_.empty() || busy_ == options_.slots) return std::nullopt;
    // Prefer the slot that served this session; otherwise the least recently used free slot,
    // which leaves the most recent conversations' caches alone.
    std::optional<uint32_t> chosen;
    for (uint32_t i = 0; i < slots_.size(); ++i) {
      const Slot& s = slots_[i];
      if (s.busy) continue;
      if (!request.session.empty() && s.session == request.session) {
        chosen = i;
        ++affinity_hits_;
        break;
      }
      if (!chosen || s.last_used < slots_[*chosen].last_used) chosen = i;
    }
    assign_locked(*chosen, request.session);
    return chosen;
  }

  void assign_locked(uint32_t slot, const std::string& session) {
    Slot& s = slots_[slot];
    if (!s.busy) {
      s.busy = true;
      ++busy_;
    }
    if (!session.empty()) s.session = session;
    ++acquired_total_;
    if (busy_ > max_in_flight_) max_in_flight_ = busy_;
  }

  const SlotPoolOptions options_;
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;
  uint32_t busy_ = 0;
  uint64_t clock_ = 0;
  uint64_t max_in_flight_ = 0;
  uint64_t acquired_total_ = 0;
  uint64_t rejected_total_ = 0;
  uint64_t affinity_hits_ = 0;
  bool closed_ = false;
  std::error_code close_reason_;
  std::string close_context_;
  // Last: their cancellation functions use nothing above, but their destructors complete
  // waiters, which must find the pool's state intact.
  Queue waiters_{[](SlotWaiter&) { return std::make_exception_ptr(Error(errc::cancelled, "waiting for a slot")); }};
  IdleQueue idle_{[](std::monostate&) {
    return std::make_exception_ptr(Error(errc::cancelled, "waiting for the slot pool to be idle"));
  }};
};

}  // namespace detail

namespace asio = boost::asio;

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
  if (auto core = std::move(core_)) core->release(slot_);
}

SlotPool::SlotPool(SlotPoolOptions options) {
  if (options.slots == 0) throw Error(errc::invalid_argument, "slot pool needs at least one slot");
  core_ = std::make_shared<detail::SlotPoolCore>(options);
}

SlotPool::~SlotPool() { core_->close(make_error_code(errc::closed), "slot pool destroyed"); }

asio::awaitable<SlotLease> SlotPool::acquire(SlotRequest request) {
  const auto started = std::chrono::steady_clock::now();
  if (auto slot = core_->try_acquire(request)) co_return SlotLease(core_, 0, *slot, std::chrono::nanoseconds(0));
  const uint32_t slot =
      co_await asio::async_initiate<const asio::use_awaitable_t<>, void(std::exception_ptr, uint32_t)>(
          [](auto handler, detail::SlotPoolCore* core, const SlotRequest* request) {
            core->enqueue(*request, detail::SlotPoolCore::Queue::make_handler(std::move(handler)));
          },
          asio::use_awaitable, core_.get(), &request);
  co_return SlotLease(core_, 0, slot, std::chrono::steady_clock::now() - started);
}

asio::awaitable<bool> SlotPool::wait_idle(std::chrono::steady_clock::time_point deadline) {
  auto idle = asio::async_initiate<const asio::deferred_t, void(std::exception_ptr)>(
      [](auto handler, std::shared_ptr<detail::SlotPoolCore> core) {
        core->wait_idle(detail::SlotPoolCore::IdleQueue::make_handler(std::move(handler)));
      },
      asio::deferred, core_);
  // Two plain operations in a parallel group (no co_spawn, so this is safe on any executor,
  // multi-threaded too): the first to complete cancels the other.
  asio::steady_timer timer(co_await asio::this_coro::executor, deadline);
  const auto [order, idle_error, timer_error] =
      co_await asio::experimental::make_parallel_group(std::move(idle), timer.async_wait(asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  co_return order[0] == 0 && !idle_error;
}

void SlotPool::close(std::error_code reason, std::string context) { core_->close(reason, std::move(context)); }

SlotPoolStats SlotPool::stats() const { return core_->stats(); }

uint32_t SlotPool::size() const noexcept { return core_->size(); }

// Placeholders until replicas are implemented (one replica only).
uint32_t SlotPool::replicas() const noexcept { return 1; }

void SlotPool::set_replica_available(uint32_t /*replica*/, bool /*available*/) {}

asio::awaitable<bool> SlotPool::wait_replica_idle(uint32_t /*replica*/,
                                                  std::chrono::steady_clock::time_point deadline) {
  co_return co_await wait_idle(deadline);
}

}  // namespace inference
