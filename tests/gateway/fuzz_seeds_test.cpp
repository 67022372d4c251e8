// Replays every committed seed of fuzz/corpus/openai_request through the fuzz target's own check,
// so that a seed which breaks the request parser or an invariant fails the ordinary and the
// sanitizer test runs, not only a fuzz run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "openai_request_check.hpp"

namespace inference::fuzz {
namespace {

// The corpus holds a dozen or more seeds; fewer means the directory was not found or emptied.
constexpr std::size_t kMinSeeds = 12;

std::vector<std::filesystem::path> seeds_of(const std::string& corpus) {
  const std::filesystem::path dir = std::filesystem::path(FUZZ_CORPUS_DIR) / corpus;
  std::vector<std::filesystem::path> seeds;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".seed") {
      seeds.push_back(entry.path());
    }
  }
  std::sort(seeds.begin(), seeds.end());
  return seeds;
}

std::vector<std::uint8_t> read_bytes(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

TEST(FuzzSeeds, EveryOpenAIRequestSeedKeepsTheParserInvariants) {
  const auto seeds = seeds_of("openai_request");
  EXPECT_GE(seeds.size(), kMinSeeds) << "seeds in " << FUZZ_CORPUS_DIR << "/openai_request";
  for (const auto& seed : seeds) {
    const std::vector<std::uint8_t> bytes = read_bytes(seed);
    EXPECT_FALSE(bytes.empty()) << seed;
    try {
      check_openai_request_input(std::span<const std::uint8_t>(bytes));
    } catch (const std::exception& e) {
      ADD_FAILURE() << seed.filename() << ": " << e.what();
    }
  }
}

}  // namespace
}  // namespace inference::fuzz
