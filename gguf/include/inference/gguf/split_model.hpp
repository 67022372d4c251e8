// File names of split models as produced by llama.cpp's gguf-split:
// "<prefix>-00001-of-00003.gguf". Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

namespace inference::gguf {

struct ShardName {
  std::filesystem::path prefix;  // directory and file name before "-NNNNN-of-MMMMM.gguf"
  uint32_t index = 0;            // 1-based
  uint32_t count = 0;
};

// Parses a shard file name; nullopt when path does not follow the pattern (or index is 0 or
// greater than count).
std::optional<ShardName> parse_shard_name(const std::filesystem::path& path);

// All shard paths of the split model, in order (1..count).
std::vector<std::filesystem::path> shard_paths(const ShardName& shard);

}  // namespace inference::gguf
