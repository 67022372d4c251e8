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
  }
  return "error";
}

}  // namespace inference
