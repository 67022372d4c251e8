// llmctl with the openai backend against the real llama-server's OpenAI endpoint: generate and
// bench need nothing but the plugin and the backend options (the key from an environment
// variable, never the command line).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "llmctl_process.hpp"
#include "support/test_server.hpp"

namespace {

using inference::llama_server::test::TestServer;
using inference::llama_server::test::TestServerOptions;
using llmctl_test::plugin_dir;
using llmctl_test::run_llmctl;
using llmctl_test::RunResult;

constexpr const char* kKeyVariable = "LLMCTL_OPENAI_TEST_KEY";

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

class LlmctlOpenAiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto reason = TestServer::skip_reason()) GTEST_SKIP() << *reason;
    TestServerOptions options;
    options.use_tcp = true;
    server_.emplace(options);
    boost::asio::io_context io;
    auto ready = boost::asio::co_spawn(io, server_->wait_ready(), boost::asio::use_future);
    io.run();
    ready.get();
    ::setenv(kKeyVariable, server_->endpoint().api_key().c_str(), 1);
  }

  void TearDown() override { ::unsetenv(kKeyVariable); }

  std::vector<std::string> command(std::vector<std::string> args) const {
    const std::string url = "base_url=http://127.0.0.1:" + std::to_string(server_->endpoint().port()) + "/v1";
    args.insert(args.begin() + 1,
                {"--plugin-dir", plugin_dir().string(), "--backend", "openai", "--opt", url, "--opt", "model=tiny",
                 "--opt", std::string("api_key_env=") + kKeyVariable, "--opt", "ignore_eos=1"});
    return args;
  }

  std::optional<TestServer> server_;
};

TEST_F(LlmctlOpenAiTest, GenerateStreamsTheRemoteServersTokens) {
  const auto r = run_llmctl(command({"generate", "--max-tokens", "4", "--json", "Hello"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const std::vector<std::string> lines = r.out_lines();
  ASSERT_FALSE(lines.empty()) << describe(r);
  const auto result = boost::json::parse(lines.back()).as_object().at("result").as_object();
  EXPECT_EQ(result.at("finish_reason").as_string(), "length") << describe(r);
  EXPECT_EQ(result.at("generated_tokens").to_number<int>(), 4) << describe(r);
}

TEST_F(LlmctlOpenAiTest, BenchRunsAgainstTheRemoteServer) {
  const auto r = run_llmctl(command({"bench", "--json", "--requests", "4", "--max-tokens", "4", "--slots", "2"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto report = boost::json::parse(r.out).as_object();
  EXPECT_EQ(report.at("backend").as_string(), "openai");
  EXPECT_EQ(report.at("completed").to_number<int>(), 4) << describe(r);
  EXPECT_EQ(report.at("errors").to_number<int>(), 0) << describe(r);
  EXPECT_EQ(report.at("tokens").to_number<int>(), 16) << describe(r);
}

}  // namespace
