// Where the gguf tests find shared models and llama-server, and a scratch directory per test.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace inference::gguf::test {

// Compile-time fallbacks from the CMake cache (tests/gguf/CMakeLists.txt), used when ctest did
// not pass the environment through.
#ifndef INFERENCE_GGUF_TEST_MODELS_DIR
#define INFERENCE_GGUF_TEST_MODELS_DIR ""
#endif
#ifndef INFERENCE_GGUF_TEST_LLAMA_SERVER
#define INFERENCE_GGUF_TEST_LLAMA_SERVER ""
#endif

// INFERENCE_MODELS_DIR, else INFERENCE_TEST_DEFAULT_MODELS_DIR (set by ctest), else the CMake
// cache entry INFERENCE_MODELS_DIR; nullopt if none is a directory.
inline std::optional<std::filesystem::path> models_dir() {
  for (const char* value : std::initializer_list<const char*>{std::getenv("INFERENCE_MODELS_DIR"),
                            std::getenv("INFERENCE_TEST_DEFAULT_MODELS_DIR"),
                            static_cast<const char*>(INFERENCE_GGUF_TEST_MODELS_DIR)}) {
    if (value != nullptr && *value != '\0' && std::filesystem::is_directory(value)) {
      return std::filesystem::path(value);
    }
  }
  return std::nullopt;
}

// LLAMA_SERVER_PATH, else INFERENCE_TEST_LLAMA_SERVER (set by ctest), else the CMake cache
// entry INFERENCE_LLAMA_SERVER; nullopt if none is executable.
inline std::optional<std::filesystem::path> llama_server_path() {
  for (const char* value : std::initializer_list<const char*>{std::getenv("LLAMA_SERVER_PATH"), std::getenv("INFERENCE_TEST_LLAMA_SERVER"),
                            static_cast<const char*>(INFERENCE_GGUF_TEST_LLAMA_SERVER)}) {
    if (value != nullptr && *value != '\0' && ::access(value, X_OK) == 0) {
      return std::filesystem::path(value);
    }
  }
  return std::nullopt;
}

// A fresh directory removed with everything in it when the test ends.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() /
            ("inference-gguf-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_bytes(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace inference::gguf::test
