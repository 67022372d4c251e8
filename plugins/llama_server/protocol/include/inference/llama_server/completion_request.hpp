// CompletionParams and the JSON body of llama-server's native streaming `POST /completion`.
// Every sampling field is optional: an unset field is left out of the body so the server's
// default (see /props default_generation_settings) applies. The body always asks for
// `"stream":true` and `"return_tokens":true` (token ids in every chunk).
// Constrained output: json_schema (JSON text, sent as the JSON value it holds) or grammar (GBNF
// text); the server refuses a schema or grammar it cannot use with HTTP 400 before the stream
// starts.
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
using Prompt = std::variant<std::string, std::vector<TokenId>>;

// One logit_bias entry, sent as [token, bias]; -infinity is sent as [token, false], which the
// server reads as "never choose this token".
struct TokenBias {
  TokenId token = 0;
  double bias = 0.0;
};

struct CompletionParams {
  // Text (tokenised by the server, BOS added) or token ids (used as given, no BOS added).
  Prompt prompt;
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
  std::string json_schema;              // the output must match this JSON Schema; empty = none
  std::string grammar;                  // the output must match this GBNF; empty = none
  std::vector<TokenBias> logit_bias;    // empty = none sent
};

// The request body. Throws Error(invalid_argument) for a non-finite floating-point field (a
// logit bias may be -infinity), a negative n_probs or logit_bias token, which the server would
// reject, misread or silently ignore, and for a json_schema that is not JSON.
std::string completion_request_body(const CompletionParams& params);

}  // namespace inference::llama_server
