// What a running llama-server says about its slots in GET /slots: each slot's id and whether it
// is still processing a task. The engine polls it after a request ended early, so a slot is
// handed to the next request only once the server has let go of it.
//
// Ownership: plain values. Thread-safety: pure functions. Cancellation: not applicable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace inference::llama_server {

struct ServerSlot {
  uint32_t id = 0;
  bool is_processing = false;  // false when the field is missing or not a boolean
};

// A busy slot's entry is ~1.5 KiB (its sampling parameters); this allows thousands of slots
// while bounding the work spent on a runaway answer.
inline constexpr std::size_t kMaxServerSlotsBodyBytes = 8 * 1024 * 1024;
// A slot entry nests four levels deep (array, slot, params, lora list); anything much deeper
// is not llama-server's answer.
inline constexpr std::size_t kMaxServerSlotsDepth = 16;

// The slots in the order the server listed them. Entries that are not objects, or whose "id"
// is missing or not a slot number, are skipped. Throws Error(protocol_error) when the body is
// not a JSON array, is larger than kMaxServerSlotsBodyBytes or nests deeper than
// kMaxServerSlotsDepth.
std::vector<ServerSlot> parse_server_slots(std::string_view body);

// Whether the first entry with the given id is processing. Throws Error(protocol_error) like
// parse_server_slots(), and when no entry has that id.
bool is_slot_processing(std::string_view body, uint32_t slot);

}  // namespace inference::llama_server
