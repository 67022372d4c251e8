// How llmctl shows one replica of a model (ModelStats::replicas) to people, the same in every
// command that prints model stats (bench, demo). Scripts read the --json fields instead.
#pragma once

#include <string>

#include "inference/types.hpp"

namespace llmctl {

// "serving on GPU 1 (gfx1100): 2 slots, 16 requests, at most 2 busy, 1024 tokens, 0 restarts";
// a failed replica's reason follows its state in parentheses.
std::string describe_replica(const inference::ReplicaStats& replica);

// Said instead of the replica lines when the backend reports none (the stub: one pool, no server).
std::string no_replicas_note(const std::string& backend);

}  // namespace llmctl
