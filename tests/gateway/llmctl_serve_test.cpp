// llmctl serve as operators run it: a child process on the real llama-server. SIGTERM stops
// accepting, lets the running stream finish, closes the model and exits 0 with no llama-server
// left behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "gateway_harness.hpp"
#include "support/child_processes.hpp"
#include "support/test_inputs.hpp"
#include "tools/llmctl_process.hpp"

namespace inference::test {
namespace {

namespace json = boost::json;
using llmctl_test::LlmctlProcess;

// The pids of the running llama-servers whose parent is `parent`.
std::vector<pid_t> llama_servers_of(pid_t parent) {
  std::vector<pid_t> found;
  for (const ChildProcess& child : llama_server_children_of(parent)) found.push_back(child.pid);
  return found;
}

TEST(LlmctlServe, SigtermDrainsTheRunningStreamAndLeavesNoServerBehind) {
  if (auto reason = llama_server_skip_reason()) GTEST_SKIP() << *reason;
  ::setenv("LLAMA_SERVER_PATH", llama_server_for_tests().c_str(), 1);
  LlmctlProcess serve({"serve", "--plugin-dir", llmctl_test::plugin_dir().string(), "--backend", "llama_cpp", "--model",
                       tiny_model_for_tests().string(), "--port", "0", "--slots", "2", "--ctx", "256", "--opt",
                       "ignore_eos=1", "--drain-seconds", "60"});
  std::smatch match;
  std::string output;
  const std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+)\n)");
  ASSERT_TRUE(eventually(
      [&] {
        output = serve.output_so_far();
        return std::regex_search(output, match, listening);
      },
      std::chrono::seconds(60)))
      << "llmctl serve never said it was listening; stdout: " << output;
  const auto port = static_cast<uint16_t>(std::stoi(match[1]));
  const auto servers = llama_servers_of(serve.pid());
  ASSERT_EQ(servers.size(), 1u) << "expected one llama-server child of llmctl serve";

  json::object body{{"model", "llama-2-tiny-random"}, {"prompt", "Once"}, {"max_tokens", 48}, {"stream", true}};
  SseClient stream(port, "/v1/completions", body);
  ASSERT_EQ(stream.status(), 200u) << stream.error_body();
  ASSERT_TRUE(stream.next_event());
  serve.send_signal(SIGTERM);
  const auto events = stream.rest();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]") << "the running stream was cut instead of drained";
  EXPECT_EQ(events.size(), 48u + 1u) << "47 more tokens, the finish chunk and [DONE]";

  const auto result = serve.wait();
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_TRUE(eventually([&] { return !std::filesystem::exists("/proc/" + std::to_string(servers[0])); },
                         std::chrono::seconds(10)))
      << "llama-server " << servers[0] << " outlived llmctl serve";
}

}  // namespace
}  // namespace inference::test
