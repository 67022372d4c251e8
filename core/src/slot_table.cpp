#include "slot_table.hpp"

#include <algorithm>

#include "prefix_match.hpp"

namespace inference::detail {

SlotTable::SlotTable(const SlotPoolOptions& options)
    : per_replica_(options.slots),
      min_prefix_share_(options.min_prefix_share),
      prefix_key_bytes_(options.prefix_key_bytes),
      slots_(static_cast<std::size_t>(options.slots) * options.replicas),
      replicas_(options.replicas) {}

std::optional<SlotChoice> SlotTable::choose(std::string_view session, std::string_view prompt) const {
  if (auto slot = session_slot(session)) return SlotChoice{*slot, SlotMatch::session};
  const std::optional<uint32_t> load = least_load();
  if (!load) return std::nullopt;
  // One pass over the free slots of the least-loaded replicas: the least recently used one and
  // the one with the longest common prefix (the least recently used among equally long ones).
  std::optional<uint32_t> oldest;
  std::optional<uint32_t> longest;
  std::size_t longest_common = 0;
  for (uint32_t i = 0; i < size(); ++i) {
    if (!placeable(i) || replicas_[replica_of(i)].busy != *load) continue;
    const uint64_t used = slots_[i].last_used;
    if (!oldest || used < slots_[*oldest].last_used) oldest = i;
    const std::size_t common = common_prefix_length(slots_[i].prompt, prompt, prefix_key_bytes_);
    if (!longest || common > longest_common || (common == longest_common && used < slots_[*longest].last_used)) {
      longest = i;
      longest_common = common;
    }
  }
  if (prefix_matches(longest_common, prompt)) return SlotChoice{*longest, SlotMatch::prefix};
  return SlotChoice{*oldest, SlotMatch::none};
}

SlotMatch SlotTable::match(uint32_t slot, std::string_view session, std::string_view prompt) const {
  const Slot& s = slots_[slot];
  if (!session.empty() && s.session == session) return SlotMatch::session;
  if (prefix_matches(common_prefix_length(s.prompt, prompt, prefix_key_bytes_), prompt)) return SlotMatch::prefix;
  return SlotMatch::none;
}

void SlotTable::take(uint32_t slot, std::string_view session, std::string_view prompt) {
  Slot& s = slots_[slot];
  Replica& r = replicas_[replica_of(slot)];
  s.busy = true;
  if (!session.empty()) s.session = session;
  s.prompt = prefix_key(prompt);
  ++r.busy;
  ++r.acquired_total;
  r.max_in_flight = std::max<uint64_t>(r.max_in_flight, r.busy);
  ++busy_;
  max_in_flight_ = std::max<uint64_t>(max_in_flight_, busy_);
}

void SlotTable::give_back(uint32_t slot) {
  Slot& s = slots_[slot];
  s.busy = false;
  s.last_used = ++clock_;
  --replicas_[replica_of(slot)].busy;
  --busy_;
}

void SlotTable::set_available(uint32_t replica, bool available) {
  replicas_[replica].available = available;
  if (available) return;
  for (uint32_t index = 0; index < per_replica_; ++index) {
    Slot& s = slots_[slot_of(replica, index)];
    s.session.clear();
    s.prompt.clear();
  }
}

std::vector<uint32_t> SlotTable::free_slots(uint32_t replica) const {
  std::vector<uint32_t> free;
  for (uint32_t index = 0; index < per_replica_; ++index) {
    if (!slots_[slot_of(replica, index)].busy) free.push_back(slot_of(replica, index));
  }
  std::stable_sort(free.begin(), free.end(),
                   [&](uint32_t a, uint32_t b) { return slots_[a].last_used < slots_[b].last_used; });
  return free;
}

std::vector<ReplicaSlotStats> SlotTable::stats() const {
  std::vector<ReplicaSlotStats> out;
  out.reserve(replicas_.size());
  for (const Replica& r : replicas_) {
    out.push_back(ReplicaSlotStats{.slots_total = per_replica_,
                                   .slots_busy = r.busy,
                                   .available = r.available,
                                   .acquired_total = r.acquired_total,
                                   .max_in_flight = r.max_in_flight});
  }
  return out;
}

std::optional<uint32_t> SlotTable::session_slot(std::string_view session) const {
  if (session.empty()) return std::nullopt;
  for (uint32_t i = 0; i < size(); ++i) {
    if (placeable(i) && slots_[i].session == session) return i;
  }
  return std::nullopt;
}

// The fewest busy slots of an available replica that has a free one.
std::optional<uint32_t> SlotTable::least_load() const {
  std::optional<uint32_t> load;
  for (const Replica& r : replicas_) {
    if (r.available && r.busy < per_replica_ && (!load || r.busy < *load)) load = r.busy;
  }
  return load;
}

bool SlotTable::prefix_matches(std::size_t common, std::string_view prompt) const {
  return prefix_share(common, prompt, prefix_key_bytes_) >= min_prefix_share_;
}

}  // namespace inference::detail
