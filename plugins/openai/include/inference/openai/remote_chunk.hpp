// One event of an OpenAI-style completion stream, decoded: the generated token it carries (its
// text), the finish reason when it ends the choice, and the token counts of the last event.
// /completions events carry choices[0].text, /chat/completions events choices[0].delta.content.
// llama-server's "timings" extension, when present, gives the prefill and decode rates.
//
// Which events carry a token: one whose text is a string, unless it is empty and the event only
// announces the role (chat's first event) or ends the choice (the finish event). An empty text
// otherwise is a token too: llama-server sends one for a token that ends inside a UTF-8
// character (its bytes come with the next token), as the engine's Tokens do, so one Token stands
// for one generated token.
//
// Ownership: plain values. Thread-safety: pure. Cancellation: not applicable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "inference/types.hpp"

namespace inference::openai {

struct RemoteUsage {
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
  std::uint64_t cached_tokens = 0;    // usage.prompt_tokens_details.cached_tokens
  double prefill_tokens_per_s = 0.0;  // llama-server's timings.prompt_per_second; 0 when absent
  double decode_tokens_per_s = 0.0;   // timings.predicted_per_second
};

struct RemoteChunk {
  std::optional<std::string> token;      // the generated token's text (maybe empty); unset: none
  std::optional<std::int32_t> token_id;  // its id, when the server streams ids (llama-server's /completion)
  std::optional<FinishReason> finish;    // set on the event that ends the choice
  std::optional<RemoteUsage> usage;      // set on the event that carries "usage"
};

// Decodes one event's data. `chat` selects the delta form. `context` names the request for
// errors. Throws RemoteError (remote_error.hpp) for an {"error":{...}} event, and
// Error(protocol_error) for data that is not a JSON object or whose fields have the wrong types.
// finish_reason "length" is FinishReason::length; "stop" and anything else (content_filter, ...)
// is FinishReason::stop: the OpenAI protocol does not tell end-of-sequence from a stop string.
RemoteChunk parse_remote_chunk(std::string_view payload, bool chat, std::string_view context);

// Decodes one event of llama-server's native /completion stream with "return_tokens":
// {"content": text, "tokens": [id], "stop": false} per token; the last event has "stop": true,
// "stop_type" ("limit" is FinishReason::length, "eos" and "word" FinishReason::stop), the counts
// (tokens_evaluated, tokens_predicted, tokens_cached) and "timings". An event with stop false is a
// token even when its content is empty (a token ending inside a UTF-8 character). Errors as
// parse_remote_chunk(); more than one id in an event is a protocol_error (one event, one token).
RemoteChunk parse_llama_completion_chunk(std::string_view payload, std::string_view context);

}  // namespace inference::openai
