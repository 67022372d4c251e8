// The prompts `llmctl bench` sends: deterministic, so a run can be repeated and a plain client
// (bench/prefix_client.py) can send the very same workload to compare with.
// Pure function; safe from any thread.
#pragma once

#include <cstdint>
#include <string>

namespace llmctl {

// Request `index`'s prompt, words joined by single spaces:
// - shared_prefix_words == 0: prompt_words - 1 times "story", then the index (the default
//   workload: every prompt differs in its last word only);
// - otherwise: the same shared_prefix_words words open every prompt (kSharedWords in turn),
//   then prompt_words words of the request's own: its index, then kOwnWords in turn starting
//   at position index. prompt_words counts only these.
// bench/prefix_client.py builds the same text; change both together.
std::string bench_prompt(uint32_t index, uint32_t prompt_words, uint32_t shared_prefix_words);

}  // namespace llmctl
