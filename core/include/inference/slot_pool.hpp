// SlotPool multiplexes N execution slots (llama-server's parallel slots, the stub's fake ones)
// across any number of concurrent requests.
//
// Admission: a free slot is taken at once when nobody waits; otherwise the request joins a
// bounded queue (Error(overloaded) at once when it is full), served highest priority first and
// FIFO within a priority. Session affinity: among free slots, the one that last served the
// same session is preferred (its KV cache holds that conversation); a request never waits for
// its preferred slot. Deadlines are the caller's: cancel the acquire() (e.g. with a timer or
// through the stream's cancellation) and the waiter leaves the queue in O(1).
//
// Threading: every member function is thread-safe; completions are posted to the waiting
// coroutine's own executor, never run inline under the pool's lock. acquire() honours Asio
// per-operation cancellation (terminal, partial and total all remove the waiter).
//
// Ownership: the pool's state is shared with outstanding leases and waiters, so destroying the
// SlotPool (which fails every waiter with Error(closed)) is safe while leases are still held.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <system_error>

#include "inference/load_options.hpp"

namespace inference {

struct SlotPoolOptions {
  uint32_t slots = kDefaultParallelSlots;
  uint32_t queue_limit = kDefaultQueueLimit;  // waiting requests beyond the busy slots
};

struct SlotRequest {
  // Constructors make this a non-aggregate on purpose: g++ 12 miscompiles coroutine parameters
  // initialised from prvalue aggregates that own memory (see docs/architecture.md).
  SlotRequest() = default;
  explicit SlotRequest(std::string session_key, int32_t priority_level = 0)
      : session(std::move(session_key)), priority(priority_level) {}

  std::string session;   // empty: no affinity
  int32_t priority = 0;  // higher first
};

struct SlotPoolStats {
  uint32_t slots_total = 0;
  uint32_t slots_busy = 0;
  uint64_t queue_depth = 0;
  uint64_t max_in_flight = 0;  // high-water mark of busy slots
  uint64_t acquired_total = 0;
  uint64_t rejected_total = 0;  // refused with overloaded
  uint64_t affinity_hits = 0;   // acquisitions that got the session's previous slot
};

namespace detail {
class SlotPoolCore;
}

// A held slot; returns it to the pool on destruction or release(). Move-only.
class SlotLease {
 public:
  SlotLease() = default;
  SlotLease(SlotLease&& other) noexcept;
  SlotLease& operator=(SlotLease&& other) noexcept;
  SlotLease(const SlotLease&) = delete;
  SlotLease& operator=(const SlotLease&) = delete;
  ~SlotLease();

  uint32_t slot() const noexcept { return slot_; }
  std::chrono::nanoseconds waited() const noexcept { return waited_; }
  explicit operator bool() const noexcept { return core_ != nullptr; }
  void release() noexcept;

 private:
  friend class SlotPool;
  SlotLease(std::shared_ptr<detail::SlotPoolCore> core, uint32_t slot, std::chrono::nanoseconds waited) noexcept;
  std::shared_ptr<detail::SlotPoolCore> core_;
  uint32_t slot_ = 0;
  std::chrono::nanoseconds waited_{0};
};

class SlotPool {
 public:
  explicit SlotPool(SlotPoolOptions options);
  SlotPool(const SlotPool&) = delete;
  SlotPool& operator=(const SlotPool&) = delete;
  ~SlotPool();

  // Waits for a slot. Throws Error(overloaded) when the queue is full, Error(closed) (or the
  // close() reason) once closed, Error(cancelled) when the wait is cancelled.
  boost::asio::awaitable<SlotLease> acquire(SlotRequest request);
  // (Not a default argument: g++ 12 miscompiles defaulted by-value coroutine parameters.)
  boost::asio::awaitable<SlotLease> acquire() { return acquire(SlotRequest{}); }

  // Completes with true once no slot is held and nobody waits (at once if that is so now), or
  // with false when `deadline` passes first. For close() with drain: wait for the last request.
  // Honours per-operation cancellation (then throws, as any awaited timer does).
  boost::asio::awaitable<bool> wait_idle(std::chrono::steady_clock::time_point deadline);

  // Refuses new requests and fails every waiter with `reason`. Held leases stay valid.
  void close(std::error_code reason, std::string context);

  SlotPoolStats stats() const;
  uint32_t size() const noexcept;

 private:
  std::shared_ptr<detail::SlotPoolCore> core_;
};

}  // namespace inference
