// The vulkan backend under faults on lavapipe, as the CPU build is tested: the server killed
// with SIGKILL while streams run (they fail with child_exited naming signal 9, the server is
// restarted pinned as before and serves the next request), and stopped with SIGSTOP (the
// request fails with child_hung, the server is killed and restarted). Nothing may be left
// behind. Skipped, saying why, without the Vulkan build.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>

#include "inference/error.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "lavapipe.hpp"
#include "support/child_processes.hpp"
#include "support/greedy_config.hpp"
#include "support/run_async.hpp"
#include "vulkan_backend.hpp"

namespace inference::vulkan {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using inference::test::greedy;

constexpr std::uint32_t kSlots = 2;
constexpr std::uint32_t kContextPerSlot = 2048;
constexpr std::int32_t kUntilContextFull = 1'000'000;
constexpr std::int32_t kShortGeneration = 4;
// Far above a lavapipe token (~25 ms on a busy machine), small enough to notice a stop quickly.
constexpr std::string_view kStallTimeoutMs = "3000";
constexpr std::chrono::seconds kTestBudget{240};
// Bounds waits for conditions that normally hold within seconds (a restart reloads the model).
constexpr std::chrono::seconds kConditionDeadline{120};
constexpr std::chrono::milliseconds kConditionPollInterval{10};

void run_test(std::function<asio::awaitable<void>()> make) {
  inference::testing::run_bounded(std::move(make), 2, kTestBudget);
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

// The error a stream ends with, or std::nullopt when it ends normally; `tokens` counts its tokens.
asio::awaitable<std::optional<Error>> drain_error(TokenStream& stream, std::size_t& tokens) {
  try {
    while (auto token = co_await stream.next()) ++tokens;
  } catch (const Error& e) {
    co_return e;
  }
  co_return std::nullopt;
}

asio::awaitable<std::shared_ptr<llama_server::LlamaServerModel>> load(VulkanBackend& backend, LoadOptions options) {
  std::shared_ptr<TextModel> model =
      co_await backend.load_model(inference::test::tiny_model_for_tests().string(), std::move(options));
  co_return std::dynamic_pointer_cast<llama_server::LlamaServerModel>(model);
}

// After a fault: the model serves again from a new, still pinned server.
asio::awaitable<void> expect_restarted_and_serving(llama_server::LlamaServerModel& model, int old_pid) {
  const bool restarted = co_await wait_until([&] {
    const int now = model.server_pid();
    return now != 0 && now != old_pid;
  });
  EXPECT_TRUE(restarted);
  EXPECT_EQ(model.stats().restarts, 1U);
  const auto environment = test::process_environment(model.server_pid());
  EXPECT_NE(std::find(environment.begin(), environment.end(), "GGML_VK_VISIBLE_DEVICES=0"), environment.end());
  TokenStream after = model.generate("After the fault", greedy(kShortGeneration));
  std::size_t tokens = 0;
  const std::optional<Error> error = co_await drain_error(after, tokens);
  EXPECT_FALSE(error.has_value()) << error->what();
  EXPECT_EQ(tokens, static_cast<std::size_t>(kShortGeneration));
}

TEST(VulkanFaultTest, KilledServerFailsRunningStreamsWithServerExitedAndIsRestartedPinned) {
  SKIP_WITHOUT_LAVAPIPE();
  VulkanBackend backend;
  run_test([&]() -> asio::awaitable<void> {
    LoadOptions options = test::lavapipe_options(kSlots, kContextPerSlot);
    options.backend_options["ignore_eos"] = "1";
    const auto model = co_await load(backend, std::move(options));
    EXPECT_NE(model, nullptr);
    if (!model) co_return;
    const int pid = model->server_pid();
    std::vector<TokenStream> running;
    for (std::uint32_t i = 0; i < kSlots; ++i) {
      running.push_back(model->generate("Running " + std::to_string(i), greedy(kUntilContextFull)));
    }
    for (auto& stream : running) EXPECT_TRUE((co_await stream.next()).has_value());
    EXPECT_EQ(::kill(pid, SIGKILL), 0);
    for (auto& stream : running) {
      std::size_t tokens = 0;
      const std::optional<Error> error = co_await drain_error(stream, tokens);
      EXPECT_TRUE(error && error->is(errc::child_exited)) << (error ? error->what() : "no error");
      if (error) {
        EXPECT_NE(std::string(error->what()).find("signal 9"), std::string::npos) << error->what();
      }
    }
    co_await expect_restarted_and_serving(*model, pid);
    co_await model->close();
  });
  EXPECT_TRUE(inference::test::no_child_process_left());
}

TEST(VulkanFaultTest, StoppedServerIsDetectedAsHungKilledAndRestartedPinned) {
  SKIP_WITHOUT_LAVAPIPE();
  VulkanBackend backend;
  run_test([&]() -> asio::awaitable<void> {
    LoadOptions options = test::lavapipe_options(kSlots, kContextPerSlot);
    options.backend_options["ignore_eos"] = "1";
    options.backend_options["stall_timeout_ms"] = std::string(kStallTimeoutMs);
    const auto model = co_await load(backend, std::move(options));
    EXPECT_NE(model, nullptr);
    if (!model) co_return;
    const int pid = model->server_pid();
    TokenStream stream = model->generate("Running", greedy(kUntilContextFull));
    EXPECT_TRUE((co_await stream.next()).has_value());
    EXPECT_EQ(::kill(pid, SIGSTOP), 0);
    std::size_t tokens = 0;
    const std::optional<Error> error = co_await drain_error(stream, tokens);
    EXPECT_TRUE(error && error->is(errc::child_hung)) << (error ? error->what() : "no error");
    co_await expect_restarted_and_serving(*model, pid);
    co_await model->close();
  });
  EXPECT_TRUE(inference::test::no_child_process_left());
}

}  // namespace
}  // namespace inference::vulkan
