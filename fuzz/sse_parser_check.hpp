// One fuzz input for inference::llama_server::SseParser, decoded and checked. Used by
// sse_parser_fuzz.cpp (libFuzzer) and by the seed replay test (GoogleTest, g++).
//
// Input layout: byte 0 picks max_event_bytes (small values reach the limit paths), byte 1 holds
// how many piece-size bytes follow (low nibble) and after how many feeds the events are drained
// (bits 4-5: every 1 to 4 feeds); each piece-size byte b feeds b + 1 bytes, cycling. The rest is
// the SSE body. An input shorter than the header is the body itself, with the default limit.
//
// Checked: the body parsed whole gives the events and the verdict (a protocol error, or not) of a
// plain reference model of the documented behaviour, and the same as the body parsed in those
// pieces, except that an error may cut a run's events shorter; no event exceeds the limit;
// `done` is exactly a data event "[DONE]"; finish() fails exactly when has_partial_event(); a
// reset() parser parses the body again the same way. Only inference::Error is caught; a broken
// invariant throws fuzz::InvariantViolation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace inference::fuzz {

void check_sse_parser_input(std::span<const std::uint8_t> input);

}  // namespace inference::fuzz
