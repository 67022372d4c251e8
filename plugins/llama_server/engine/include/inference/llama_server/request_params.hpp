// The /completion parameters of one request: what a GenerateConfig asks for, in llama-server's
// terms, pinned to the request's slot. Pure, so the mapping is tested without a server.
//
// Ownership: plain values. Thread-safety: the function is pure; safe from any thread.
// Cancellation: not applicable.
#pragma once

#include <cstdint>
#include <string>

#include "inference/generate_config.hpp"
#include "inference/llama_server/completion_request.hpp"
#include "inference/llama_server/engine_options.hpp"

namespace inference::llama_server {

// Sampling fields the config leaves unset stay unset (the server's defaults apply); max_tokens
// becomes n_predict (its default when unset); logprobs 0 sends no n_probs; the seed is truncated
// to the server's 32 bits. The request is pinned to `slot` (id_slot) with cache_prompt on, so a
// session's next request reuses the slot's KV cache; engine.ignore_eos adds ignore_eos.
CompletionParams request_params(const GenerateConfig& config, std::string prompt, uint32_t slot,
                                const EngineOptions& engine);

}  // namespace inference::llama_server
