// The /completion parameters of one request: what a GenerateConfig asks for, in llama-server's
// terms, pinned to the request's slot; and the checks that refuse, before any work, what the
// server would refuse or misread. Pure, so the mapping is tested without a server.
//
// Ownership: plain values. Thread-safety: the functions are pure; safe from any thread.
// Cancellation: not applicable.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "inference/llama_server/completion_request.hpp"
#include "inference/llama_server/engine_options.hpp"

namespace inference::llama_server {

// Sampling fields the config leaves unset stay unset (the server's defaults apply); max_tokens
// becomes n_predict (its default when unset); logprobs 0 sends no n_probs; the seed is truncated
// to the server's 32 bits. json_schema, grammar and logit_bias are passed on (a bias of
// -infinity: the token is never chosen). The request is pinned to `slot` (id_slot) with
// cache_prompt on, so a session's next request reuses the slot's KV cache; engine.ignore_eos adds
// ignore_eos. The prompt is text (the server adds BOS) or token ids (sent as they are).
CompletionParams request_params(const GenerateConfig& config, Prompt prompt, uint32_t slot,
                                const EngineOptions& engine);

// What validate() cannot know and the server would refuse late or not at all, checked before a
// slot is taken: a json_schema that is not JSON ("GenerateConfig::json_schema is not valid JSON:
// <why> at offset N"), and logit_bias tokens outside the vocabulary (which the server would
// silently ignore). vocab_size 0 (unknown) skips the vocabulary check. Error(invalid_argument),
// or std::nullopt when the server may be asked.
std::optional<Error> check_request(const GenerateConfig& config, uint64_t vocab_size);

// Token ids sent to the server (generate_tokens(), detokenize()) must be in [0, vocab_size): the
// server does not check them. vocab_size 0 (unknown) checks only that none is negative. `what`
// names the ids in the message, e.g. "generate_tokens() prompt".
std::optional<Error> check_token_ids(std::span<const TokenId> ids, uint64_t vocab_size, std::string_view what);

}  // namespace inference::llama_server
