#include "replica_text.hpp"

#include <fmt/core.h>

namespace llmctl {

std::string describe_replica(const inference::ReplicaStats& replica) {
  std::string text(inference::to_string(replica.state));
  if (!replica.device.empty()) text += " on " + replica.device;
  if (!replica.reason.empty()) text += " (" + replica.reason + ")";
  return text + fmt::format(": {} slots, {} requests, at most {} busy, {} tokens, {} restarts", replica.slots_total,
                            replica.requests_total, replica.max_in_flight, replica.tokens_served, replica.restarts);
}

std::string no_replicas_note(const std::string& backend) {
  return "none reported by backend '" + backend + "' (it serves from one pool of slots)";
}

}  // namespace llmctl
