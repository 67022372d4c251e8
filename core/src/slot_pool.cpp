#include "inference/slot_pool.hpp"

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "inference/error.hpp"
#include "inference/detail/post_handler.hpp"

namespace inference {
namespace detail {

namespace asio = boost::asio;

class SlotPoolCore : public std::enable_shared_from_this<SlotPoolCore> {
 public:
  using Clock = std::chrono::steady_clock;
  using Handler = asio::any_completion_handler<void(std::exception_ptr, uint32_t)>;
  using HandlerBox = std::unique_ptr<Handler>;  // see post_handler.hpp

  explicit SlotPoolCore(SlotPoolOptions options) : options_(options), slots_(options.slots) {}

  // Takes a free slot now when nobody is queued. Throws when closed.
  std::optional<uint32_t> try_acquire(const SlotRequest& request) {
    std::lock_guard lock(mutex_);
    return try_acquire_locked(request);
  }

  void enqueue(const SlotRequest& request, HandlerBox handler) {
    std::unique_lock lock(mutex_);
    std::optional<uint32_t> slot;
    std::exception_ptr error;
    try {
      slot = try_acquire_locked(request);
      if (!slot && queued_ >= options_.queue_limit) {
        ++rejected_total_;
        throw Error(errc::overloaded, "queue limit " + std::to_string(options_.queue_limit) + " reached");
      }
    } catch (const Error&) {
      error = std::current_exception();
    }
    if (slot || error) {
      lock.unlock();
      return complete(std::move(handler), error, slot.value_or(0));
    }
    auto& queue = queues_[request.priority];
    auto link = std::make_shared<WaiterLink>();
    queue.push_back(Waiter{std::move(handler), request.session, link});
    link->priority = request.priority;
    link->position = std::prev(queue.end());
    link->queued = true;
    ++queued_;
    auto cancel_slot = asio::get_associated_cancellation_slot(*link->position->handler);
    if (cancel_slot.is_connected()) {
      cancel_slot.assign([weak = weak_from_this(), link](asio::cancellation_type) {
        if (auto self = weak.lock()) self->cancel_waiter(*link);
      });
    }
  }

  void release(uint32_t slot) noexcept {
    std::unique_lock lock(mutex_);
    if (queued_ == 0) {
      slots_[slot].busy = false;
      slots_[slot].last_used = ++clock_;
      --busy_;
      return;
    }
    // Hand the slot straight to the first waiter of the highest priority.
    auto level = queues_.begin();
    Waiter waiter = std::move(level->second.front());
    level->second.pop_front();
    if (level->second.empty()) queues_.erase(level);
    --queued_;
    waiter.link->queued = false;
    assign_locked(slot, waiter.session);
    lock.unlock();
    complete(std::move(waiter.handler), nullptr, slot);
  }

  void close(std::error_code reason, std::string context) {
    std::vector<Waiter> failed;
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
      close_reason_ = reason;
      close_context_ = std::move(context);
      for (auto& [priority, queue] : queues_) {
        for (auto& waiter : queue) {
          waiter.link->queued = false;
          failed.push_back(std::move(waiter));
        }
      }
      queues_.clear();
      queued_ = 0;
    }
    for (auto& waiter : failed) {
      complete(std::move(waiter.handler), std::make_exception_ptr(Error(reason, close_context_)), 0);
    }
  }

  SlotPoolStats stats() const {
    std::lock_guard lock(mutex_);
    return SlotPoolStats{
        .slots_total = options_.slots,
        .slots_busy = busy_,
        .queue_depth = queued_,
        .max_in_flight = max_in_flight_,
        .acquired_total = acquired_total_,
        .rejected_total = rejected_total_,
        .affinity_hits = affinity_hits_,
    };
  }

  uint32_t size() const noexcept { return options_.slots; }

 private:
  struct Waiter;
  struct WaiterLink {
    bool queued = false;
    int32_t priority = 0;
    std::list<Waiter>::iterator position;
  };
  struct Waiter {
    HandlerBox handler;
    std::string session;
    std::shared_ptr<WaiterLink> link;
  };
  struct Slot {
    bool busy = false;
    uint64_t last_used = 0;
    std::string session;  // the session it served last
  };

  std::optional<uint32_t> try_acquire_locked(const SlotRequest& request) {
    if (closed_) throw Error(close_reason_, close_context_);
    if (queued_ > 0 || busy_ == options_.slots) return std::nullopt;
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

  void cancel_waiter(WaiterLink& link) {
    HandlerBox handler;
    {
      std::lock_guard lock(mutex_);
      if (!link.queued) return;  // already granted or failed
      link.queued = false;
      auto level = queues_.find(link.priority);
      handler = std::move(link.position->handler);
      level->second.erase(link.position);
      if (level->second.empty()) queues_.erase(level);
      --queued_;
    }
    complete(std::move(handler), std::make_exception_ptr(Error(errc::cancelled, "waiting for a slot")), 0);
  }

  static void complete(HandlerBox handler, std::exception_ptr error, uint32_t slot) {
    post_handler(std::move(handler), error, slot);
  }

  const SlotPoolOptions options_;
  mutable std::mutex mutex_;
  std::vector<Slot> slots_;
  std::map<int32_t, std::list<Waiter>, std::greater<>> queues_;
  uint64_t queued_ = 0;
  uint32_t busy_ = 0;
  uint64_t clock_ = 0;
  uint64_t max_in_flight_ = 0;
  uint64_t acquired_total_ = 0;
  uint64_t rejected_total_ = 0;
  uint64_t affinity_hits_ = 0;
  bool closed_ = false;
  std::error_code close_reason_;
  std::string close_context_;
};

}  // namespace detail

namespace asio = boost::asio;

SlotLease::SlotLease(std::shared_ptr<detail::SlotPoolCore> core, uint32_t slot, std::chrono::nanoseconds waited) noexcept
    : core_(std::move(core)), slot_(slot), waited_(waited) {}

SlotLease::SlotLease(SlotLease&& other) noexcept
    : core_(std::move(other.core_)), slot_(other.slot_), waited_(other.waited_) {}

SlotLease& SlotLease::operator=(SlotLease&& other) noexcept {
  if (this != &other) {
    release();
    core_ = std::move(other.core_);
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
  if (auto slot = core_->try_acquire(request)) co_return SlotLease(core_, *slot, std::chrono::nanoseconds(0));
  const uint32_t slot = co_await asio::async_initiate<const asio::use_awaitable_t<>, void(std::exception_ptr, uint32_t)>(
      [](auto handler, detail::SlotPoolCore* core, const SlotRequest* request) {
        core->enqueue(*request, std::make_unique<detail::SlotPoolCore::Handler>(std::move(handler)));
      },
      asio::use_awaitable, core_.get(), &request);
  co_return SlotLease(core_, slot, std::chrono::steady_clock::now() - started);
}

void SlotPool::close(std::error_code reason, std::string context) { core_->close(reason, std::move(context)); }

SlotPoolStats SlotPool::stats() const { return core_->stats(); }

uint32_t SlotPool::size() const noexcept { return core_->size(); }

}  // namespace inference
