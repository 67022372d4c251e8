// One fuzz input for the parsers of llama-server's JSON answers, checked: parse_server_props
// (GET /props), parse_server_slots and is_slot_processing (GET /slots),
// CompletionChunkParser::parse (one /completion event payload) and server_error_from_response
// (an error body). Every input goes through all of them, so a seed of any kind exercises each.
// Used by server_json_fuzz.cpp (libFuzzer) and by the seed replay test (GoogleTest, g++).
//
// Checked: only inference::Error leaves a parser; accepted numbers are the document's numbers
// (no silent wrap-around); is_slot_processing agrees with parse_server_slots; a chunk parsed by
// a parser and into a chunk that were used before equals the chunk a fresh parser gives
// (every field overwritten, the arena rewound). A broken invariant throws
// fuzz::InvariantViolation.
#pragma once

#include <cstdint>
#include <span>

namespace inference::fuzz {

void check_server_json_input(std::span<const std::uint8_t> input);

}  // namespace inference::fuzz
