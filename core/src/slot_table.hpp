// The slots of every replica of one model as the SlotPool sees them: which are busy, when each
// was last used, the session and the prompt (its first prefix_key_bytes) each served last, and
// each replica's availability and counters. Decides where a request goes (placement 1.-4. in
// slot_pool.hpp) and whether a freed slot suits a waiting request; it never waits or wakes.
//
// Slots are numbered over every replica: replica r holds slots r*slots .. r*slots+slots-1.
// Not thread-safe: the SlotPool's mutex guards it. Options are validated by the SlotPool.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inference/slot_pool.hpp"

namespace inference::detail {

// Why a slot suits a request: it served the request's session last, or its last prompt shares
// at least min_prefix_share of the request's prompt.
enum class SlotMatch { none, session, prefix };

struct SlotChoice {
  uint32_t slot = 0;  // over every replica
  SlotMatch match = SlotMatch::none;
};

class SlotTable {
 public:
  explicit SlotTable(const SlotPoolOptions& options);

  uint32_t size() const noexcept { return static_cast<uint32_t>(slots_.size()); }
  uint32_t replicas() const noexcept { return static_cast<uint32_t>(replicas_.size()); }
  uint32_t replica_of(uint32_t slot) const noexcept { return slot / per_replica_; }
  uint32_t index_in_replica(uint32_t slot) const noexcept { return slot % per_replica_; }
  uint32_t slot_of(uint32_t replica, uint32_t index) const noexcept { return replica * per_replica_ + index; }

  // The part of a prompt a slot remembers and placement compares.
  std::string_view prefix_key(std::string_view prompt) const noexcept { return prompt.substr(0, prefix_key_bytes_); }

  // The free slot of an available replica that a request goes to, or none when there is none.
  std::optional<SlotChoice> choose(std::string_view session, std::string_view prompt) const;
  // Whether the (free) slot suits a request that waits for one, and why.
  SlotMatch match(uint32_t slot, std::string_view session, std::string_view prompt) const;

  // Marks a free slot busy for a request and remembers its session (when it has one) and prompt.
  void take(uint32_t slot, std::string_view session, std::string_view prompt);
  // Marks a busy slot free; it becomes the most recently used one.
  void give_back(uint32_t slot);

  bool available(uint32_t replica) const { return replicas_[replica].available; }
  // Making a replica unavailable also forgets its slots' sessions and prompts: it goes away to
  // restart or be replaced, and its server comes back with empty caches.
  void set_available(uint32_t replica, bool available);
  // The free slots of `replica`, least recently used first.
  std::vector<uint32_t> free_slots(uint32_t replica) const;

  uint32_t busy() const noexcept { return busy_; }
  uint32_t busy(uint32_t replica) const { return replicas_[replica].busy; }
  uint64_t max_in_flight() const noexcept { return max_in_flight_; }
  std::vector<ReplicaSlotStats> stats() const;

 private:
  struct Slot {
    bool busy = false;
    uint64_t last_used = 0;  // the table's clock when it was last given back
    std::string session;     // the session it served last
    std::string prompt;      // the first prefix_key_bytes of the prompt it served last
  };
  struct Replica {
    bool available = true;
    uint32_t busy = 0;
    uint64_t acquired_total = 0;
    uint64_t max_in_flight = 0;
  };

  bool placeable(uint32_t slot) const { return !slots_[slot].busy && replicas_[replica_of(slot)].available; }
  std::optional<uint32_t> session_slot(std::string_view session) const;
  std::optional<uint32_t> least_load() const;
  bool prefix_matches(std::size_t common, std::string_view prompt) const;

  const uint32_t per_replica_;
  const double min_prefix_share_;
  const std::size_t prefix_key_bytes_;
  std::vector<Slot> slots_;
  std::vector<Replica> replicas_;
  uint32_t busy_ = 0;
  uint64_t max_in_flight_ = 0;
  uint64_t clock_ = 0;
};

}  // namespace inference::detail
