#include "serving_text.hpp"

#include <cctype>

namespace llmctl {

std::string serving_line(const inference::ModelInfo& info) {
  if (info.serving_context_reason.empty()) return {};
  // A chosen context's reason starts with its number; an asked one ("asked (context_len=N)") gets it here.
  const bool numbered = std::isdigit(static_cast<unsigned char>(info.serving_context_reason.front())) != 0;
  return "context " +
         (numbered
              ? info.serving_context_reason
              : std::to_string(info.serving_context_per_slot) + " tokens per slot, " + info.serving_context_reason) +
         (info.serving_device.empty() ? std::string() : "; on " + info.serving_device);
}

boost::json::object serving_json(const inference::ModelInfo& info) {
  boost::json::object out;
  out["context_per_slot"] = info.serving_context_per_slot;
  out["context_reason"] = info.serving_context_reason;
  out["device"] = info.serving_device;
  return out;
}

}  // namespace llmctl
