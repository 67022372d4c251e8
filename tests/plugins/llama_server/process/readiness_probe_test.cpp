#include "inference/llama_server/readiness_probe.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <chrono>

#include "inference/error.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "supervision_fixture.hpp"

namespace inference::llama_server {
namespace {

namespace asio = boost::asio;
using test::kTestLoadTimeout;
using test::run_until_complete;
using test::tiny_model_spec;
using ::testing::AllOf;
using ::testing::HasSubstr;

// An early exit must be reported long before the load timeout; the failing server exits within
// a fraction of a second.
constexpr std::chrono::seconds kEarlyExitBudget{10};

Error ready_failure(asio::io_context& io, ServerProcess& process,
                    std::chrono::milliseconds timeout = kTestLoadTimeout) {
  try {
    run_until_complete(io, wait_until_ready(io.get_executor(), process.endpoint(), process, timeout));
  } catch (const Error& error) {
    return error;
  }
  ADD_FAILURE() << "the server became ready";
  return Error(errc::invalid_argument);
}

TEST(ReadinessProbeTest, BecomesReadyAndAnswersHealth) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  asio::io_context io;
  ServerProcess process(io.get_executor(), tiny_model_spec());
  run_until_complete(io, wait_until_ready(io.get_executor(), process.endpoint(), process, kTestLoadTimeout));
  HttpConnection connection(io.get_executor(), process.endpoint());
  const auto health = run_until_complete(io, connection.request(HttpMethod::get, "/health"));
  EXPECT_EQ(health.status, 200U);
  EXPECT_FALSE(process.exit_status());
}

TEST(ReadinessProbeTest, UnknownFlagFailsAtOnceWithTheServersLastWords) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  asio::io_context io;
  auto spec = tiny_model_spec();
  spec.extra_args = {"--definitely-not-a-flag"};
  ServerProcess process(io.get_executor(), spec);
  const auto started = std::chrono::steady_clock::now();
  const auto error = ready_failure(io, process);
  EXPECT_LT(std::chrono::steady_clock::now() - started, kEarlyExitBudget);
  EXPECT_TRUE(error.is(errc::child_start_failed)) << error.what();
  EXPECT_THAT(error.what(), AllOf(HasSubstr("exited with status"), HasSubstr("before it was ready"),
                                  HasSubstr("--definitely-not-a-flag")));
}

TEST(ReadinessProbeTest, MissingModelFileFailsAtOnceWithTheLoadError) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  asio::io_context io;
  auto spec = tiny_model_spec();
  spec.model_path = "/nonexistent/dir/no model.gguf";
  ServerProcess process(io.get_executor(), spec);
  const auto started = std::chrono::steady_clock::now();
  const auto error = ready_failure(io, process);
  EXPECT_LT(std::chrono::steady_clock::now() - started, kEarlyExitBudget);
  EXPECT_TRUE(error.is(errc::child_start_failed)) << error.what();
  EXPECT_THAT(error.what(), AllOf(HasSubstr("exited with status 1"), HasSubstr("/nonexistent/dir/no model.gguf")));
}

TEST(ReadinessProbeTest, TimeoutReportsLoadTimeoutWithTheOutputSoFar) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  asio::io_context io;
  ServerProcess process(io.get_executor(), tiny_model_spec());
  // Too short for any model to load, long enough for the server to print something.
  const auto error = ready_failure(io, process, std::chrono::milliseconds(1));
  EXPECT_TRUE(error.is(errc::load_timeout)) << error.what();
  EXPECT_THAT(error.what(), HasSubstr("was not ready after 1 ms"));
  EXPECT_FALSE(process.exit_status()) << "a timeout must not kill the server; its owner decides";
}

}  // namespace
}  // namespace inference::llama_server
