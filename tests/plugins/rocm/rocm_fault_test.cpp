// The rocm backend under a crash: the real (CPU) llama-server it supervises, pinned through a
// fake sysfs tree with gpu_layers=0, is killed with SIGKILL while streams run. The engine under
// the backend must fail those streams with child_exited, restart the server (with the same
// device pinning) and serve the next request; nothing may be left behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <thread>
#include <vector>

#include "fake_servers.hpp"
#include "fake_sysfs.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "rocm_backend.hpp"
#include "support/child_processes.hpp"
#include "support/greedy_config.hpp"
#include "support/run_async.hpp"
#include "support/test_inputs.hpp"

namespace inference::rocm {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using test::FakeSysfs;

using ::inference::test::kTinyModelName;
constexpr uint32_t kSlots = 4;
// Room for streams that are still generating when the server is killed.
constexpr uint32_t kContextPerSlot = 4096;
constexpr int32_t kUntilContextFull = 1'000'000;
constexpr int32_t kShortGeneration = 8;
// What one test may take before its io_context is abandoned (ctest's TIMEOUT is 300 s).
constexpr std::chrono::seconds kTestBudget{240};
// Bounds waits for conditions that normally hold within a second.
constexpr std::chrono::seconds kConditionDeadline{30};
constexpr std::chrono::milliseconds kConditionPollInterval{2};

fs::path test_server() { return inference::test::llama_server_for_tests(); }

fs::path test_model() { return inference::test::tiny_model_for_tests(); }

void run_test(std::function<asio::awaitable<void>()> make) {
  constexpr int kThreads = 2;
  inference::testing::run_bounded(std::move(make), kThreads, kTestBudget);
}

asio::awaitable<bool> wait_until(std::function<bool()> condition) {
  const auto deadline = Clock::now() + kConditionDeadline;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (!condition()) {
    if (Clock::now() > deadline) co_return false;
    timer.expires_after(kConditionPollInterval);
    co_await timer.async_wait(asio::use_awaitable);
  }
  co_return true;
}

using ::inference::test::greedy;

// The error a stream ends with, or std::nullopt when it ends normally; `tokens` counts its tokens.
asio::awaitable<std::optional<Error>> drain_error(TokenStream& stream, std::size_t& tokens) {
  try {
    while (auto token = co_await stream.next()) ++tokens;
  } catch (const Error& e) {
    co_return e;
  }
  co_return std::nullopt;
}

TEST(RocmFaultTest, KilledServerFailsRunningStreamsWithServerExitedAndTheBackendRestartsIt) {
  if (test_server().empty() || ::access(test_server().c_str(), X_OK) != 0) {
    GTEST_SKIP() << "no executable llama-server (INFERENCE_TEST_LLAMA_SERVER)";
  }
  if (!fs::is_regular_file(test_model())) GTEST_SKIP() << test_model() << " missing";
  FakeSysfs sysfs;
  test::make_9950x_with_7800xt(sysfs);
  RocmBackend backend;
  run_test([&]() -> asio::awaitable<void> {
    std::string path = test_model().string();
    LoadOptions options;
    options.parallel_slots = kSlots;
    options.context_len = kContextPerSlot;
    options.gpu_layers = 0;
    options.backend_options = {
        {"sysfs_root", sysfs.sysfs_root().string()}, {"kfd_path", sysfs.kfd_path().string()}, {"ignore_eos", "1"}};
    options.backend_options["dri_dir"] = sysfs.dri_dir().string();
    // The CPU server behind a script that answers the device probe as a HIP build.
    options.backend_options["server_path"] = test::write_hip_stand_in(sysfs, test_server()).string();
    options.backend_options["server_args"] = "-t\n1";  // one argument per line
    std::shared_ptr<TextModel> model = co_await backend.load_model(std::move(path), std::move(options));
    auto server = std::dynamic_pointer_cast<llama_server::LlamaServerModel>(model);
    EXPECT_NE(server, nullptr);
    if (!server) co_return;
    const int pid = server->server_pid();
    std::vector<TokenStream> running;
    for (uint32_t i = 0; i < kSlots; ++i) {
      running.push_back(model->generate("Running " + std::to_string(i), greedy(kUntilContextFull)));
    }
    for (auto& stream : running) {
      std::optional<Token> first = co_await stream.next();
      EXPECT_TRUE(first.has_value());
    }
    const auto killed_at = Clock::now();
    EXPECT_EQ(::kill(pid, SIGKILL), 0);
    double slowest_ms = 0;
    for (auto& stream : running) {
      std::size_t tokens = 0;
      std::optional<Error> error = co_await drain_error(stream, tokens);
      slowest_ms = std::max(slowest_ms, std::chrono::duration<double, std::milli>(Clock::now() - killed_at).count());
      EXPECT_TRUE(error && error->is(errc::child_exited)) << (error ? error->what() : "no error");
      if (error) {
        EXPECT_NE(std::string(error->what()).find("signal 9"), std::string::npos) << error->what();
      }
    }
    std::printf("[ MEASURE  ] rocm: kill -9 -> all %u running streams failed: %.1f ms\n", kSlots, slowest_ms);
    const bool restarted = co_await wait_until([&] {
      const int now = server->server_pid();
      return now != 0 && now != pid;
    });
    EXPECT_TRUE(restarted);
    EXPECT_EQ(model->stats().restarts, 1U);
    TokenStream after = model->generate("After the restart", greedy(kShortGeneration));
    std::size_t tokens = 0;
    std::optional<Error> error = co_await drain_error(after, tokens);
    EXPECT_FALSE(error.has_value()) << error->what();
    EXPECT_EQ(tokens, static_cast<std::size_t>(kShortGeneration));
    co_await model->close();
  });
  EXPECT_TRUE(inference::test::no_child_process_left());
}

}  // namespace
}  // namespace inference::rocm
