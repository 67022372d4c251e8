// Replays every committed seed of the llama-server fuzz corpora (fuzz/corpus/sse_parser,
// fuzz/corpus/server_json) through the fuzz targets' own checks, so that a seed which breaks a
// parser or an invariant fails the ordinary and the sanitizer test runs, not only a fuzz run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <string>
#include <vector>

#include "server_json_check.hpp"
#include "sse_parser_check.hpp"

namespace inference::fuzz {
namespace {

// Both corpora hold ten or more seeds; fewer means the directory was not found or emptied.
constexpr std::size_t kMinSeedsPerCorpus = 10;

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

template <typename Check>
void replay(const std::string& corpus, Check check) {
  const auto seeds = seeds_of(corpus);
  EXPECT_GE(seeds.size(), kMinSeedsPerCorpus) << "seeds in " << FUZZ_CORPUS_DIR << "/" << corpus;
  for (const auto& seed : seeds) {
    const std::vector<std::uint8_t> bytes = read_bytes(seed);
    EXPECT_FALSE(bytes.empty()) << seed;
    try {
      check(std::span<const std::uint8_t>(bytes));
    } catch (const std::exception& e) {
      ADD_FAILURE() << seed.filename() << ": " << e.what();
    }
  }
}

TEST(FuzzSeeds, EverySseParserSeedKeepsTheParserInvariants) { replay("sse_parser", check_sse_parser_input); }

TEST(FuzzSeeds, EveryServerJsonSeedKeepsTheParserInvariants) { replay("server_json", check_server_json_input); }

}  // namespace
}  // namespace inference::fuzz
