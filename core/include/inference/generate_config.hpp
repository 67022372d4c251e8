// Per-request generation settings. Every optional field left unset means "backend default";
// an explicit value (including 0) is always passed through. Plain value type: safe to copy, and
// one config may be shared by any number of requests (the timeout starts anew for each).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/tools.hpp"

namespace inference {

// A bias added to one token's logit (llama-server's logit_bias): positive favours it, negative
// disfavours it; -infinity forbids it.
struct LogitBias {
  int32_t token = 0;  // a vocabulary id, >= 0
  float bias = 0.0F;  // finite, or -infinity
};

// Used when GenerateConfig::max_tokens is unset.
inline constexpr int32_t kDefaultMaxTokens = 256;

struct GenerateConfig {
  // Not an aggregate on purpose: g++ 12 miscompiles coroutine parameters initialised from
  // prvalue aggregates that own memory (see docs/architecture.md).
  GenerateConfig() = default;

  std::optional<int32_t> max_tokens;    // unset: kDefaultMaxTokens; >= 0
  std::optional<float> temperature;     // 0 = greedy; >= 0
  std::optional<int32_t> top_k;         // >= 0 (0 = all tokens)
  std::optional<float> top_p;           // in [0, 1]
  std::optional<float> min_p;           // in [0, 1]
  std::optional<float> repeat_penalty;  // >= 0 (1 = none)
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;     // stop strings
  std::vector<int32_t> stop_tokens;  // stop token ids
  int32_t logprobs = 0;              // top-N probabilities per token, 0 = off; >= 0
  std::string session;               // affinity key; empty = none
  // Bounds on queueing plus generation. When one passes, the stream fails with
  // Error(deadline_exceeded): result().finish_reason is `error`, result().error is
  // deadline_exceeded (tokens produced before are still delivered first). When both are set,
  // the earlier one applies.
  std::optional<std::chrono::steady_clock::time_point> deadline;  // a fixed point in time
  std::optional<std::chrono::steady_clock::duration> timeout;     // from each generate()/chat() call
  std::optional<int32_t> priority;                                // higher is served first; unset = 0

  // Constrained output: at most one of the two. The model can then write only text that the
  // JSON Schema (text, e.g. R"({"type":"object"})") or the GBNF grammar accepts, whatever its
  // weights. A schema that is not JSON is refused before any work; a schema or grammar the
  // backend cannot use is refused with Error(invalid_argument) quoting the backend's message.
  std::string json_schema;
  std::string grammar;
  std::vector<LogitBias> logit_bias;

  // chat() only (generate() refuses them): tools the model may call, and how it must choose.
  // With tools, the reply is parsed into GenerateResult::tool_calls or GenerateResult::reply.
  // They cannot be combined with json_schema or grammar (the tools are the constraint).
  std::vector<ToolDefinition> tools;
  ToolChoice tool_choice = ToolChoice::automatic;
  std::string tool_name;            // ToolChoice::named: the tool to call (one of tools)
  bool parallel_tool_calls = true;  // false: at most one call per reply

  int32_t effective_max_tokens() const { return max_tokens.value_or(kDefaultMaxTokens); }

  // Sets the timeout: each request made with this config must end within `duration` of its own
  // generate()/chat() call (not of this call).
  GenerateConfig& with_timeout(std::chrono::steady_clock::duration duration) {
    timeout = duration;
    return *this;
  }
};

// Checks the ranges noted above (floats must also be finite), that json_schema, grammar and tools
// are not combined, that tool names are valid and unique and that tool_name names one of them. Returns
// Error(invalid_argument) naming the first field out of range and its value, or std::nullopt when the config is usable.
// generate() and chat() run it before any work: an invalid config gives a stream whose first
// next() throws that error; batch_generate() and classify() throw it.
std::optional<Error> validate(const GenerateConfig& config);

// validate() plus what only chat() accepts (tools): for generate(), generate_tokens() and the
// functions built on them.
std::optional<Error> validate_for_prompt(const GenerateConfig& config);

}  // namespace inference
