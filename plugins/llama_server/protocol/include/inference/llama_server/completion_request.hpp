// CompletionParams and the JSON body of llama-server's native streaming `POST /completion`.
// Every sampling field is optional: an unset field is left out of the body so the server's
// default (see /props default_generation_settings) applies. The body always asks for
// `"stream":true` and `"return_tokens":true` (token ids in every chunk).
//
// Ownership: plain values. Thread-safety: the function is pure; safe from any thread.
// Cancellation: not applicable.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace inference::llama_server {

using TokenId = std::int32_t;

struct CompletionParams {
  // Text (tokenised by the server, BOS added) or token ids (used as given, no BOS added).
  std::variant<std::string, std::vector<TokenId>> prompt;
  std::optional<std::int32_t> n_predict;  // tokens to generate; -1 = until EOS or context full
  std::optional<double> temperature;
  std::optional<std::int32_t> top_k;
  std::optional<double> top_p;
  std::optional<double> min_p;
  std::optional<double> repeat_penalty;
  std::optional<std::uint32_t> seed;    // 4294967295 asks the server for a random seed
  std::vector<std::string> stop;        // stop strings; empty = none sent
  std::optional<std::int32_t> n_probs;  // top-N probabilities per token
  std::optional<std::int32_t> id_slot;  // pin to a slot; the server waits while it is busy
  std::optional<bool> cache_prompt;     // reuse the slot's KV cache for a common prefix
  std::optional<bool> ignore_eos;       // keep generating past EOS (benchmarks: fixed lengths)
};

// The request body. Throws Error(invalid_argument) for a non-finite floating-point field or
// a negative n_probs, which the server would reject or misread.
std::string completion_request_body(const CompletionParams& params);

}  // namespace inference::llama_server
