// Where every test finds the real llama-server, the test models and the source tree: the
// environment first (LLAMA_SERVER_PATH, then INFERENCE_TEST_LLAMA_SERVER, which ctest sets;
// INFERENCE_MODELS_DIR, then INFERENCE_TEST_DEFAULT_MODELS_DIR; INFERENCE_TEST_SOURCE_DIR), else
// the value configured at build time (a test binary run by hand sees no ctest environment).
// The configured values are three compile definitions every test target gets from
// inference_add_test() (tests/CMakeLists.txt); the one place that names them is this header.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#ifndef INFERENCE_TEST_CONFIGURED_LLAMA_SERVER
#define INFERENCE_TEST_CONFIGURED_LLAMA_SERVER ""
#endif
#ifndef INFERENCE_TEST_CONFIGURED_MODELS_DIR
#define INFERENCE_TEST_CONFIGURED_MODELS_DIR ""
#endif
#ifndef INFERENCE_TEST_CONFIGURED_SOURCE_DIR
#define INFERENCE_TEST_CONFIGURED_SOURCE_DIR ""
#endif

namespace inference::test {

// The model every integration test runs: small enough to load in a fraction of a second.
inline constexpr std::string_view kTinyModelName = "llama-2-tiny-random.gguf";

inline std::string environment_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

inline std::filesystem::path llama_server_for_tests(const char* configured = INFERENCE_TEST_CONFIGURED_LLAMA_SERVER) {
  std::string path = environment_or_empty("LLAMA_SERVER_PATH");
  if (path.empty()) path = environment_or_empty("INFERENCE_TEST_LLAMA_SERVER");
  return path.empty() ? std::filesystem::path(configured) : std::filesystem::path(path);
}

inline std::filesystem::path models_dir_for_tests(const char* configured = INFERENCE_TEST_CONFIGURED_MODELS_DIR) {
  std::string directory = environment_or_empty("INFERENCE_MODELS_DIR");
  if (directory.empty()) directory = environment_or_empty("INFERENCE_TEST_DEFAULT_MODELS_DIR");
  return directory.empty() ? std::filesystem::path(configured) : std::filesystem::path(directory);
}

inline std::filesystem::path tiny_model_for_tests() { return models_dir_for_tests() / kTinyModelName; }

// Why the tests that run the real llama-server on the tiny model cannot run here, or nullopt.
inline std::optional<std::string> llama_server_skip_reason() {
  const std::filesystem::path binary = llama_server_for_tests();
  if (binary.empty() || ::access(binary.c_str(), X_OK) != 0) {
    return "no executable llama-server (LLAMA_SERVER_PATH / INFERENCE_TEST_LLAMA_SERVER = '" + binary.string() +
           "'); run scripts/install-llama-server";
  }
  const std::filesystem::path model = tiny_model_for_tests();
  if (!std::filesystem::is_regular_file(model)) {
    return "test model " + model.string() + " missing (INFERENCE_MODELS_DIR / INFERENCE_TEST_DEFAULT_MODELS_DIR)";
  }
  return std::nullopt;
}

inline std::filesystem::path source_dir_for_tests(const char* configured = INFERENCE_TEST_CONFIGURED_SOURCE_DIR) {
  const std::string directory = environment_or_empty("INFERENCE_TEST_SOURCE_DIR");
  return directory.empty() ? std::filesystem::path(configured) : std::filesystem::path(directory);
}

}  // namespace inference::test
