// The part of a model's ModelStats that a SlotPool knows, for backends that multiplex requests
// over one: slots, queue, high-water mark, admitted and refused requests. The backend adds what
// only it knows (tokens served, restarts, failure).
//
// Ownership: plain values. Thread-safety: pure. Cancellation: not applicable.
#pragma once

#include "inference/slot_pool.hpp"
#include "inference/types.hpp"

namespace inference {

inline ModelStats model_stats_from_pool(const SlotPoolStats& pool) {
  ModelStats stats;
  stats.slots_total = pool.slots_total;
  stats.slots_busy = pool.slots_busy;
  stats.queue_depth = pool.queue_depth;
  stats.max_in_flight = pool.max_in_flight;
  stats.requests_total = pool.acquired_total;
  stats.requests_rejected = pool.rejected_total;
  stats.affinity_hits = pool.affinity_hits;
  stats.prefix_hits = pool.prefix_hits;
  return stats;
}

}  // namespace inference
