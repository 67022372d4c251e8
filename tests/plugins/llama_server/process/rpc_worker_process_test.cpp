// RpcWorkerProcess with stand-in workers (shell scripts): how an exit is reported, that terminate()
// and the destructor leave no process of the worker's group behind, and that the sink is never
// called once the object is gone.
#include "inference/llama_server/rpc_worker_process.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "support/child_processes.hpp"
#include "support/run_async.hpp"
#include "support/scratch_directory.hpp"

namespace inference::llama_server {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using inference::testing::run_async;

constexpr auto kExitTimeout = 30s;

class RpcWorkerProcessTest : public ::testing::Test {
 protected:
  RpcWorkerSpec worker(const std::string& script) {
    const auto path = scratch_.path() / "ggml-rpc-server";
    std::ofstream(path) << "#!/bin/sh\n" << script;
    std::filesystem::permissions(path, std::filesystem::perms::owner_all);
    RpcWorkerSpec spec;
    spec.binary = path;
    spec.port = 50101;
    return spec;
  }

  test::ScratchDirectory scratch_;
};

TEST_F(RpcWorkerProcessTest, AnExitIsReportedWithItsStatusAndLastLinesEachSeenByTheSink) {
  const auto spec = worker("echo \"args: $*\"\necho 'last words'\nexit 7\n");
  std::vector<std::string> lines;
  const auto status = run_async([&]() -> asio::awaitable<ExitStatus> {
    RpcWorkerProcess process(co_await asio::this_coro::executor, spec,
                             [&](std::string_view line) { lines.emplace_back(line); });
    co_return co_await process.async_wait_exit();
  });
  EXPECT_EQ(status.exit_code, 7);
  EXPECT_EQ(status.output_tail, "args: -H 127.0.0.1 -p 50101\nlast words");
  EXPECT_EQ(lines, (std::vector<std::string>{"args: -H 127.0.0.1 -p 50101", "last words"}));
}

TEST_F(RpcWorkerProcessTest, TerminateStopsTheWholeGroupWithSigterm) {
  // The worker forks a helper into its group, as a shell wrapper would.
  const auto spec = worker("sleep 600 &\necho \"helper $!\"\nexec sleep 600\n");
  pid_t helper = 0;
  const auto status = run_async([&]() -> asio::awaitable<ExitStatus> {
    // Cancelled by the sink when the helper is announced: the event the test waits for.
    asio::steady_timer announced(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
    RpcWorkerProcess process(announced.get_executor(), spec, [&](std::string_view line) {
      if (line.rfind("helper ", 0) != 0) return;
      helper = std::stoi(std::string(line.substr(7)));
      announced.cancel();
    });
    boost::system::error_code ignored;
    co_await announced.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    co_return co_await process.terminate(5s);
  });
  EXPECT_EQ(status.signal, SIGTERM) << status.describe();
  ASSERT_GT(helper, 0);
  EXPECT_TRUE(test::wait_until_exited(helper, kExitTimeout));
  EXPECT_TRUE(test::no_child_process_left());
}

TEST_F(RpcWorkerProcessTest, DestroyingItKillsAndReapsTheWorkerAndSilencesTheSink) {
  // The worker's output waits in the pipe, unread (the io_context has not run), when it is destroyed.
  const auto spec = worker("echo 'unread line'\nexit 0\n");
  std::vector<std::string> lines;
  asio::io_context io;
  {
    RpcWorkerProcess process(io.get_executor(), spec, [&](std::string_view line) { lines.emplace_back(line); });
    ASSERT_TRUE(test::wait_until_exited(process.pid(), kExitTimeout));
  }
  EXPECT_TRUE(test::no_child_process_left());  // reaped before the destructor returned
  io.run();                                    // the coroutines read and drain what is left
  EXPECT_TRUE(lines.empty()) << lines.front();
}

}  // namespace
}  // namespace inference::llama_server
