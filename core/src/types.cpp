#include "inference/types.hpp"

namespace inference {

std::string_view to_string(FinishReason reason) noexcept {
  switch (reason) {
    case FinishReason::length:
      return "length";
    case FinishReason::stop:
      return "stop";
    case FinishReason::eos:
      return "eos";
    case FinishReason::cancelled:
      return "cancelled";
    case FinishReason::error:
      return "error";
    case FinishReason::tool_calls:
      return "tool_calls";
  }
  return "error";
}

std::string_view to_string(ReplicaState state) noexcept {
  switch (state) {
    case ReplicaState::serving:
      return "serving";
    case ReplicaState::restarting:
      return "restarting";
    case ReplicaState::replacing:
      return "replacing";
    case ReplicaState::failed:
      return "failed";
    case ReplicaState::stopped:
      return "stopped";
  }
  return "failed";
}

}  // namespace inference
