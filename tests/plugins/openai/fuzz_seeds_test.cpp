// Replays every committed seed of fuzz/corpus/remote_protocol through the fuzz target's own check,
// so that a seed which breaks one of the openai backend's parsers fails the ordinary test run,
// not only a fuzz run.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <span>
#include <vector>

#include "remote_protocol_check.hpp"

namespace inference::fuzz {
namespace {

// The corpus holds twelve seeds; fewer than ten means the directory was not found or emptied.
constexpr std::size_t kMinSeeds = 10;

TEST(OpenAiFuzzSeeds, EveryRemoteProtocolSeedKeepsTheParserInvariants) {
  const std::filesystem::path dir = std::filesystem::path(FUZZ_CORPUS_DIR) / "remote_protocol";
  std::vector<std::filesystem::path> seeds;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (entry.path().extension() == ".seed") seeds.push_back(entry.path());
  }
  std::sort(seeds.begin(), seeds.end());
  EXPECT_GE(seeds.size(), kMinSeeds) << "seeds in " << dir;
  for (const auto& seed : seeds) {
    std::ifstream file(seed, std::ios::binary);
    const std::vector<std::uint8_t> bytes{std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
    try {
      check_remote_protocol_input(std::span<const std::uint8_t>(bytes));
    } catch (const std::exception& e) {
      ADD_FAILURE() << seed.filename() << ": " << e.what();
    }
  }
}

}  // namespace
}  // namespace inference::fuzz
