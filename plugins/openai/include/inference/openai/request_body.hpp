// The JSON bodies of the two streamed requests the openai backend sends: POST {api_root}/completions
// for generate() and POST {api_root}/chat/completions for chat(), with "stream": true and
// "stream_options": {"include_usage": true} (so the last event carries the token counts).
//
// GenerateConfig fields map to the OpenAI names (max_tokens, temperature, top_p, seed, stop,
// logit_bias); top_k, min_p and repeat_penalty are sent only when set, as the extensions
// llama-server accepts under those names (OpenAI's own API rejects them). What the remote API
// cannot express is refused before anything is sent (unsupported_fields()).
//
// Ownership: plain values. Thread-safety: pure. Cancellation: not applicable.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "inference/types.hpp"

namespace inference::openai {

// Error(unsupported) naming the first GenerateConfig field (or message field) this backend cannot
// send: stop_tokens (token ids of the remote's vocabulary are unknown here), logprobs,
// json_schema, grammar, tools, and messages carrying tool calls. std::nullopt when all can be sent.
std::optional<Error> unsupported_fields(const GenerateConfig& config, const std::vector<Message>& messages);

// The body of a /completions request.
std::string completion_body(const std::string& model, const std::string& prompt, const GenerateConfig& config,
                            bool ignore_eos);

// The body of llama-server's native POST /completion (RemoteProtocol::llama_server): "n_predict",
// "return_tokens": true, llama-server's sampling names, logit_bias as [[id, bias]] pairs with
// [id, false] for a forbidden token.
std::string llama_completion_body(const std::string& prompt, const GenerateConfig& config, bool ignore_eos);

// The body of a /chat/completions request.
std::string chat_body(const std::string& model, const std::vector<Message>& messages, const GenerateConfig& config,
                      bool ignore_eos);

}  // namespace inference::openai
