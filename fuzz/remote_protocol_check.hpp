// One fuzz input for the openai backend's parsers, checked: parse_remote_chunk (one event of a
// /completions or /chat/completions stream, both forms), parse_llama_completion_chunk (llama-server's
// native /completion event), remote_error_from_response (a refusal's
// body), parse_retry_after and parse_remote_url. Every input goes through all of them.
// Used by remote_protocol_fuzz.cpp (libFuzzer) and by the seed replay test (GoogleTest, g++).
//
// Checked: only inference::Error leaves a parser; an accepted event's text is the document's
// text; a refusal keeps the code its status stands for and quotes a non-JSON body only up to its
// bound; a Retry-After is never over a day; an accepted URL has a host, a port and an API root
// starting with '/', and a refused one never quotes its user info. A broken invariant throws
// fuzz::InvariantViolation.
#pragma once

#include <cstdint>
#include <span>

namespace inference::fuzz {

void check_remote_protocol_input(std::span<const std::uint8_t> input);

}  // namespace inference::fuzz
