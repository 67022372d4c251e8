// The stub backend through its plugin, as a host sees it: options are validated with errors
// that name the key, and fail_load makes load_model fail with the configured code.
#include <gtest/gtest.h>

#include <filesystem>

#include "inference/error.hpp"
#include "inference/registry.hpp"
#include "support/run_async.hpp"

namespace inference {
namespace {

namespace asio = boost::asio;

std::filesystem::path stub_plugin() { return std::filesystem::path(STUB_TEST_PLUGIN_DIR) / "libbackend_stub.so"; }

// Loads the stub with the given backend options and returns the error it failed with.
std::optional<Error> load_error(std::map<std::string, std::string> backend_options) {
  Registry registry;
  registry.load_plugin(stub_plugin());
  std::optional<Error> failure;
  testing::run_async([&]() -> asio::awaitable<void> {
    LoadOptions options;
    options.backend_options = backend_options;
    try {
      auto model = co_await registry.load_model("stub", options, "stub");
      co_await model->close();
    } catch (const Error& e) {
      failure = e;
    }
  });
  return failure;
}

TEST(StubBackend, FailLoadMakesLoadModelFailWithThatCode) {
  const auto error = load_error({{"fail_load", "model_not_found"}});
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::model_not_found)) << error->what();
  EXPECT_NE(std::string(error->what()).find("fail_load"), std::string::npos) << error->what();
}

TEST(StubBackend, UnknownOptionIsRefusedNamingTheKey) {
  const auto error = load_error({{"token_dely_us", "5"}});
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::invalid_argument));
  EXPECT_NE(std::string(error->what()).find("token_dely_us"), std::string::npos) << error->what();
}

TEST(StubBackend, MalformedNumberIsRefusedNamingKeyAndValue) {
  const auto error = load_error({{"token_delay_us", "fast"}});
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::invalid_argument));
  EXPECT_NE(std::string(error->what()).find("token_delay_us=fast"), std::string::npos) << error->what();
}

TEST(StubBackend, UnknownErrorCodeNameIsRefused) {
  const auto error = load_error({{"fail_code", "kaboom"}});
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::invalid_argument));
}

TEST(StubBackend, LoadsWithValidOptions) {
  EXPECT_FALSE(load_error({{"token_delay_us", "0"}, {"fail_code", "child_exited"}}).has_value());
}

}  // namespace
}  // namespace inference
