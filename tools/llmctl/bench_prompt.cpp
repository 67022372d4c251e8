#include "bench_prompt.hpp"

#include <array>
#include <string_view>

namespace llmctl {

namespace {

// The default workload repeats this word; the last word is the request index.
constexpr std::string_view kRepeatedWord = "story";
// A shared prefix reads like text (a system prompt or a document), not one repeated token.
constexpr std::array<std::string_view, 17> kSharedWords = {"the",    "quiet", "river", "carried", "old",    "boats",
                                                           "past",   "a",     "town",  "where",   "nobody", "ever",
                                                           "locked", "their", "doors", "at",      "night"};
constexpr std::array<std::string_view, 11> kOwnWords = {"tell",   "me", "about", "one",  "small",   "detail",
                                                        "people", "in", "that",  "town", "remember"};

void append_word(std::string& text, std::string_view word) {
  if (!text.empty()) text += ' ';
  text += word;
}

}  // namespace

std::string bench_prompt(uint32_t index, uint32_t prompt_words, uint32_t shared_prefix_words) {
  std::string prompt;
  if (shared_prefix_words == 0) {
    for (uint32_t i = 1; i < prompt_words; ++i) append_word(prompt, kRepeatedWord);
    append_word(prompt, std::to_string(index));
    return prompt;
  }
  for (uint32_t i = 0; i < shared_prefix_words; ++i) append_word(prompt, kSharedWords[i % kSharedWords.size()]);
  append_word(prompt, std::to_string(index));
  for (uint32_t i = 1; i < prompt_words; ++i) append_word(prompt, kOwnWords[(index + i) % kOwnWords.size()]);
  return prompt;
}

}  // namespace llmctl
