// The llama_cpp backend as a host reaches it: its plugin loaded into a Registry. A server named
// only by the server_path backend option (no LLAMA_SERVER_PATH, no llama-server on PATH) must be
// enough for the registry's availability check, preflight and load_model, as it is for the
// backend's own load_model.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "inference/registry.hpp"
#include "llama_cpp_fixture.hpp"
#include "stream_helpers.hpp"
#include "support/test_inputs.hpp"

namespace inference::llama_cpp::test {
namespace {

// Where the wrapper script of the test server finds dirname and readlink; no llama-server there
// on the machines the tests run on (checked below).
constexpr const char* kPathWithoutLlamaServer = "/usr/bin:/bin";
constexpr uint32_t kSmallContextPerSlot = 256;
constexpr int32_t kFewTokens = 4;

namespace asio = boost::asio;
namespace fs = std::filesystem;

fs::path llama_cpp_plugin() {
  std::string directory = inference::test::environment_or_empty("INFERENCE_TEST_PLUGIN_DIR");
  if (directory.empty()) directory = LLAMA_CPP_TEST_PLUGIN_DIR;
  return fs::path(directory) / "libbackend_llama_cpp.so";
}

TEST(LlamaCppRegistryTest, ServerPathIsWhatTheRegistryLoadsWith) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  // server_path names a link to the server that is found nowhere else: not in the environment,
  // not on PATH, and not at the build's configured default (which is the link's target, so the
  // availability answer tells which path was taken).
  const fs::path scratch = fs::temp_directory_path() / ("registry-test-" + std::to_string(::getpid()));
  fs::create_directories(scratch);
  const fs::path link = scratch / "llama-server";
  fs::create_symlink(test_server_binary(), link);
  LoadOptions options = tiny_options(1, kSmallContextPerSlot);
  options.backend_options["server_path"] = link.string();
  ::unsetenv("LLAMA_SERVER_PATH");
  ::setenv("PATH", kPathWithoutLlamaServer, 1);
  Registry registry;
  registry.load_plugin(llama_cpp_plugin());
  const auto backend = registry.get("llama_cpp");
  EXPECT_EQ(backend->available_with(options).executable, link.string());

  const std::string model_path = test_model_path().string();
  const Availability preflight = backend->preflight(model_path, options);
  EXPECT_TRUE(preflight.available) << preflight.reason;
  run_test([&]() -> asio::awaitable<void> {
    for (const std::string& name : std::vector<std::string>{"llama_cpp", ""}) {  // explicit, then the default
      auto model = co_await registry.load_model(model_path, options, name);
      GenerateConfig config;
      config.max_tokens = kFewTokens;
      TokenStream stream = model->generate("Hello", config);
      std::vector<Token> tokens = co_await drain(stream);
      EXPECT_FALSE(tokens.empty()) << "backend '" << name << "'";
      co_await model->close();
    }
    // A server_path that does not exist is refused by name, not replaced by another server.
    LoadOptions missing = options;
    missing.backend_options["server_path"] = (scratch / "no-such-server").string();
    try {
      co_await registry.load_model(model_path, missing, "llama_cpp");
      ADD_FAILURE() << "loaded with a missing server_path";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("no-such-server"), std::string::npos) << e.what();
    }
  });
  std::error_code ignored;
  fs::remove_all(scratch, ignored);
}

}  // namespace
}  // namespace inference::llama_cpp::test
