// Where tests find the real llama-server, the test models and the source tree: the environment
// first (LLAMA_SERVER_PATH, then INFERENCE_TEST_LLAMA_SERVER, which ctest sets; INFERENCE_MODELS_DIR,
// then INFERENCE_TEST_DEFAULT_MODELS_DIR; INFERENCE_TEST_SOURCE_DIR), else the value configured at
// build time, which the test passes in (a test binary run by hand sees no ctest environment).
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

namespace inference::test {

inline std::string environment_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

inline std::filesystem::path llama_server_for_tests(const char* configured) {
  std::string path = environment_or_empty("LLAMA_SERVER_PATH");
  if (path.empty()) path = environment_or_empty("INFERENCE_TEST_LLAMA_SERVER");
  return path.empty() ? std::filesystem::path(configured) : std::filesystem::path(path);
}

inline std::filesystem::path models_dir_for_tests(const char* configured) {
  std::string directory = environment_or_empty("INFERENCE_MODELS_DIR");
  if (directory.empty()) directory = environment_or_empty("INFERENCE_TEST_DEFAULT_MODELS_DIR");
  return directory.empty() ? std::filesystem::path(configured) : std::filesystem::path(directory);
}

inline std::filesystem::path source_dir_for_tests(const char* configured) {
  const std::string directory = environment_or_empty("INFERENCE_TEST_SOURCE_DIR");
  return directory.empty() ? std::filesystem::path(configured) : std::filesystem::path(directory);
}

}  // namespace inference::test
