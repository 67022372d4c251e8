// SlotPool multiplexes the execution slots of one model (llama-server's parallel slots, the
// stub's fake ones), possibly spread over several replicas (one server process per GPU), across
// any number of concurrent requests.
//
// Admission: a free slot is taken at once when nobody waits; otherwise the request joins a
// bounded queue (Error(overloaded) at once when it is full), served highest priority first and
// FIFO within a priority. Deadlines are the caller's: cancel the acquire() (e.g. with a timer or
// through the stream's cancellation) and the waiter leaves the queue in O(1).
//
// Placement, among the free slots of the available replicas, in this order:
//   1. session affinity: the slot that last served the request's session (its KV cache holds
//      that conversation), on whichever replica it is; a request never waits for it;
//   2. the least-loaded replica (fewest busy slots);
//   3. on it (or on the tied ones), the slot whose last prompt shares the longest common prefix
//      with this request's `prompt`, when that prefix is at least min_prefix_share of the
//      prompt (llama-server reuses the cached prefix and evaluates only the rest);
//   4. otherwise the least recently used slot, which leaves the recent caches alone.
// When a slot frees and requests wait: the first waiter of the highest priority gets it, unless
// one of the next `lookahead` waiters of that same priority matches the freed slot (its session,
// or a prompt prefix as in 3.) and the first does not; a waiter is passed over that way at most
// `lookahead` times, so fairness costs a bounded delay only.
//
// Replicas: slots are numbered per replica (0..slots-1); a lease names both. A replica that is
// unavailable (its server crashed and restarts, or is being replaced) gets no new requests; its
// held leases stay valid and are returned normally. Making it available again hands its free
// slots to the waiters.
//
// Threading: every member function is thread-safe; completions are posted to the waiting
// coroutine's own executor, never run inline under the pool's lock. acquire() honours Asio
// per-operation cancellation (terminal, partial and total all remove the waiter).
//
// Memory: a slot remembers at most prefix_key_bytes of its last prompt (the comparison looks at
// no more), so placement costs O(slots x prefix_key_bytes) per decision at worst.
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
#include <vector>

#include "inference/load_options.hpp"

namespace inference {

// Defaults, with reasons.
// llama-server's own threshold for reusing a slot by prompt similarity (--slot-prompt-similarity)
// is of this order: below half the prompt, keeping another conversation's cache is worth more.
inline constexpr double kDefaultMinPrefixShare = 0.5;
// Four waiters cover one replica's worth of llama-server slots: enough to find the request
// that continues a cached prompt, and a bound on how long the first waiter can be passed over.
inline constexpr uint32_t kDefaultPlacementLookahead = 4;
// 64 KiB of text is some 16,000 tokens: a prefix beyond that is "long" for any ranking.
inline constexpr std::size_t kDefaultPrefixKeyBytes = 64 * 1024;

struct SlotPoolOptions {
  uint32_t slots = kDefaultParallelSlots;     // per replica
  uint32_t queue_limit = kDefaultQueueLimit;  // waiting requests beyond the busy slots
  uint32_t replicas = 1;
  double min_prefix_share = kDefaultMinPrefixShare;  // 0 < share <= 1; see placement 3.
  uint32_t lookahead = kDefaultPlacementLookahead;   // 0: strict FIFO within a priority
  std::size_t prefix_key_bytes = kDefaultPrefixKeyBytes;
};

struct SlotRequest {
  // Constructors make this a non-aggregate on purpose: g++ 12 miscompiles coroutine parameters
  // initialised from prvalue aggregates that own memory (see docs/architecture.md).
  SlotRequest() = default;
  explicit SlotRequest(std::string session_key, int32_t priority_level = 0, std::string prompt_text = {})
      : session(std::move(session_key)), priority(priority_level), prompt(std::move(prompt_text)) {}

  std::string session;   // empty: no affinity
  int32_t priority = 0;  // higher first
  // What the slot will process, for prefix placement: the prompt text, or for chat a rendering
  // of the messages that grows the way the conversation does. Only its first prefix_key_bytes
  // matter. Empty: no prefix preference (least recently used).
  std::string prompt;
};

struct ReplicaSlotStats {
  uint32_t slots_total = 0;
  uint32_t slots_busy = 0;
  bool available = true;
  uint64_t acquired_total = 0;
  uint64_t max_in_flight = 0;  // high-water mark of its busy slots
};

struct SlotPoolStats {
  uint32_t slots_total = 0;  // over every replica
  uint32_t slots_busy = 0;
  uint64_t queue_depth = 0;
  uint64_t max_in_flight = 0;  // high-water mark of busy slots
  uint64_t acquired_total = 0;
  uint64_t rejected_total = 0;             // refused with overloaded
  uint64_t affinity_hits = 0;              // acquisitions that got the session's previous slot
  uint64_t prefix_hits = 0;                // acquisitions placed on a slot by a shared prompt prefix
  std::vector<ReplicaSlotStats> replicas;  // one per replica, in replica order
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

  uint32_t replica() const noexcept { return replica_; }
  uint32_t slot() const noexcept { return slot_; }  // within the replica
  std::chrono::nanoseconds waited() const noexcept { return waited_; }
  explicit operator bool() const noexcept { return core_ != nullptr; }
  void release() noexcept;

 private:
  friend class SlotPool;
  SlotLease(std::shared_ptr<detail::SlotPoolCore> core, uint32_t replica, uint32_t slot,
            std::chrono::nanoseconds waited) noexcept;
  std::shared_ptr<detail::SlotPoolCore> core_;
  uint32_t replica_ = 0;
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
  // The same for one replica: true once none of its slots is held (waiters elsewhere do not
  // count). For replacing a replica: make it unavailable first, then wait for its last request.
  boost::asio::awaitable<bool> wait_replica_idle(uint32_t replica, std::chrono::steady_clock::time_point deadline);

  // Whether `replica` gets new requests (see Replicas above). Idempotent. Throws
  // Error(invalid_argument) for a replica number out of range.
  void set_replica_available(uint32_t replica, bool available);

  // Refuses new requests and fails every waiter with `reason`. Held leases stay valid.
  void close(std::error_code reason, std::string context);

  SlotPoolStats stats() const;
  uint32_t size() const noexcept;  // slots over every replica
  uint32_t replicas() const noexcept;

 private:
  std::shared_ptr<detail::SlotPoolCore> core_;
};

}  // namespace inference
