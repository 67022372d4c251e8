// llmctl's JSON output: one compact JSON value per line on stdout, flushed at once so a reader
// on a pipe sees every token as it arrives. Field names are a stable interface for scripts.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "inference/types.hpp"

namespace llmctl {

void print_json_line(const boost::json::value& value);

// {"id": ..., "text": ...}
boost::json::object token_json(const inference::Token& token);

// finish_reason, prompt_tokens, generated_tokens, cached_prompt_tokens, queue_ms, ttft_ms,
// total_ms, prefill_tok_s, decode_tok_s, replica and slot (where it ran; -1 when unknown or the
// backend has no such notion); plus error (the code's name) and error_message when the
// generation failed, and error_detail (several lines) when the error has one.
boost::json::object result_json(const inference::GenerateResult& result);

}  // namespace llmctl
