// One fuzz input for the gateway's OpenAI protocol layer, checked: parse_completion_request (a
// request body), authorized / constant_time_equal (an Authorization header), and the response
// writers fed with the parsed request and with the raw input as token text. Used by
// openai_request_fuzz.cpp (libFuzzer) and by the seed replay test (GoogleTest, g++).
//
// Input layout: byte 0 bit 0 picks the endpoint (0 chat completions, 1 completions), bit 1 tight
// limits (depth 4, 2 messages, 16 tokens, 2 stop strings, 3 top logprobs) instead of the
// defaults, so the limit paths are reached by small inputs; the rest is the body, and also the
// header value. An empty input is skipped.
//
// Checked: a body is either a request that passes inference::validate with every field within the
// limits (model non-empty, max_tokens <= the limit, messages for chat only and within the limit,
// roles system/user/assistant, config.logprobs = max(top_logprobs, 1) exactly when logprobs), the
// same on a second parse; or an ApiError with status 400, code invalid_argument or invalid_json, a
// one-line message, and an error_body that is JSON. Nothing else may escape (a crash). Every chunk
// written is valid JSON whatever bytes the token text holds. A broken invariant throws
// fuzz::InvariantViolation.
#pragma once

#include <cstdint>
#include <span>

namespace inference::fuzz {

void check_openai_request_input(std::span<const std::uint8_t> input);

}  // namespace inference::fuzz
