// tools/llmctl/bench_prompt.cpp: the workloads `llmctl bench` sends (and bench/prefix_client.py
// rebuilds word for word).
#include "bench_prompt.hpp"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

using llmctl::bench_prompt;

std::vector<std::string> words_of(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

TEST(BenchPrompt, DefaultRepeatsOneWordAndEndsWithTheIndex) {
  EXPECT_EQ(bench_prompt(5, 4, 0), "story story story 5");
  EXPECT_EQ(bench_prompt(12, 1, 0), "12");
}

TEST(BenchPrompt, SharedPrefixOpensEveryPromptThenTheRequestsOwnWordsStartingWithItsIndex) {
  constexpr uint32_t kShared = 300;
  constexpr uint32_t kOwn = 8;
  const auto first = bench_prompt(0, kOwn, kShared);
  const auto first_words = words_of(first);
  ASSERT_EQ(first_words.size(), kShared + kOwn);
  const std::string prefix = first.substr(0, first.find(" 0 "));
  EXPECT_EQ(words_of(prefix).size(), kShared);
  std::set<std::string> distinct;
  for (uint32_t index = 0; index < 32; ++index) {
    const auto prompt = bench_prompt(index, kOwn, kShared);
    const auto words = words_of(prompt);
    ASSERT_EQ(words.size(), kShared + kOwn) << prompt;
    EXPECT_EQ(prompt.rfind(prefix + " ", 0), 0U) << "the shared words must open every prompt";
    EXPECT_EQ(words[kShared], std::to_string(index)) << "the request's own words start with its index";
    distinct.insert(prompt);
  }
  EXPECT_EQ(distinct.size(), 32U);
}

TEST(BenchPrompt, SharedPrefixIsTextNotOneRepeatedWord) {
  const auto words = words_of(bench_prompt(0, 1, 20));
  EXPECT_GT(std::set<std::string>(words.begin(), words.end()).size(), 10U);
}

TEST(BenchPrompt, IsDeterministic) { EXPECT_EQ(bench_prompt(7, 5, 40), bench_prompt(7, 5, 40)); }

}  // namespace
