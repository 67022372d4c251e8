#include "inference/gguf/split_model.hpp"

#include <fmt/format.h>

#include <regex>

namespace inference::gguf {
namespace {

// gguf-split numbers shards with five digits: "<prefix>-00001-of-00003.gguf".
const std::regex& shard_pattern() {
  static const std::regex pattern(R"((.+)-([0-9]{5})-of-([0-9]{5})\.gguf)", std::regex::icase);
  return pattern;
}

}  // namespace

std::optional<ShardName> parse_shard_name(const std::filesystem::path& path) {
  const std::string file = path.filename().string();
  std::smatch match;
  if (!std::regex_match(file, match, shard_pattern())) {
    return std::nullopt;
  }
  ShardName shard;
  shard.prefix = path.parent_path() / match[1].str();
  shard.index = static_cast<uint32_t>(std::stoul(match[2].str()));
  shard.count = static_cast<uint32_t>(std::stoul(match[3].str()));
  if (shard.index == 0 || shard.index > shard.count) {
    return std::nullopt;
  }
  return shard;
}

std::vector<std::filesystem::path> shard_paths(const ShardName& shard) {
  std::vector<std::filesystem::path> paths;
  paths.reserve(shard.count);
  for (uint32_t i = 1; i <= shard.count; ++i) {
    paths.emplace_back(fmt::format("{}-{:05}-of-{:05}.gguf", shard.prefix.string(), i, shard.count));
  }
  return paths;
}

}  // namespace inference::gguf
