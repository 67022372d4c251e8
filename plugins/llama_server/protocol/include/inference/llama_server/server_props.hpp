// What a running llama-server says about itself in GET /props, and the check that it runs
// with the slots and per-slot context that were asked for (fail fast instead of serving with a
// silently different configuration).
//
// Ownership: plain values. Thread-safety: pure functions. Cancellation: not applicable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace inference::llama_server {

struct ServerProps {
  uint32_t total_slots = 0;
  uint32_t context_per_slot = 0;  // default_generation_settings.n_ctx
  std::string build_info;
  bool has_chat_template = false;
};

// Throws Error(protocol_error) naming the field when the body is not the expected shape.
ServerProps parse_server_props(std::string_view body);

// Throws Error(child_start_failed) saying what differs. context_per_slot 0 means "the model's
// default" and is not checked.
void verify_server_props(const ServerProps& props, uint32_t slots, uint32_t context_per_slot);

}  // namespace inference::llama_server
