// Where the gguf tests find the shared models and llama-server (support/test_inputs.hpp, as
// every test does), as optionals: a test that needs one skips without it.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <vector>

#include "support/scratch_directory.hpp"
#include "support/test_inputs.hpp"

namespace inference::gguf::test {

// A fresh private directory removed with everything in it when the test ends.
using TempDir = inference::test::ScratchDirectory;

// The test models' directory; nullopt if it is not a directory.
inline std::optional<std::filesystem::path> models_dir() {
  std::filesystem::path directory = inference::test::models_dir_for_tests();
  if (directory.empty() || !std::filesystem::is_directory(directory)) return std::nullopt;
  return directory;
}

// The llama-server the tests run; nullopt if it is not executable.
inline std::optional<std::filesystem::path> llama_server_path() {
  std::filesystem::path server = inference::test::llama_server_for_tests();
  if (server.empty() || ::access(server.c_str(), X_OK) != 0) return std::nullopt;
  return server;
}

inline void write_bytes(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace inference::gguf::test
