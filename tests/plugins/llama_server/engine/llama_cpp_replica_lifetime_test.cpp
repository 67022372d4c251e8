// The processes of a model with two replicas: close() stops both servers and leaves no child (no
// server, no zombie), and a host killed with SIGKILL leaves neither server behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <string>
#include <vector>

#include "replica_test_support.hpp"
#include "support/child_processes.hpp"
#include "support/greedy_config.hpp"

namespace inference::llama_cpp::test {
namespace {

namespace asio = boost::asio;
using ::inference::test::greedy;
using ::inference::test::no_child_process_left;

TEST(LlamaCppReplicaLifetimeTest, CloseStopsEveryReplicaEndsTheirStreamsWithClosedAndLeavesNoChild) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  std::vector<int> pids;
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(two_replica_options(kReplicaLongContext));
    for (uint32_t r = 0; r < model->replica_count(); ++r) pids.push_back(model->server_pid(r));
    // Every slot of both servers busy when close() comes.
    std::vector<TokenStream> streams =
        co_await start_holding_streams(*model, static_cast<int>(kTwoReplicas * kSlotsPerReplica), "Running");
    co_await model->close();
    for (const int pid : pids) EXPECT_FALSE(process_exists(pid)) << "llama-server " << pid << " outlived close()";
    for (auto& stream : streams) {
      const StreamOutcome outcome = co_await finish(stream);
      EXPECT_TRUE(outcome.error && outcome.error->is(errc::closed))
          << (outcome.error ? outcome.error->what() : "no error");
    }
    for (const auto& replica : model->stats().replicas) EXPECT_EQ(replica.state, ReplicaState::stopped);
  });
  ASSERT_EQ(pids.size(), kTwoReplicas);
  EXPECT_NE(pids[0], pids[1]);
  EXPECT_TRUE(no_child_process_left());
}

// The forked host: loads two replicas, streams on both, writes both servers' pids to `fd`, then
// keeps streaming until it is killed. Never returns into the test framework.
[[noreturn]] void run_host(int fd) {
  try {
    asio::io_context io;
    asio::co_spawn(
        io,
        [fd]() -> asio::awaitable<void> {
          auto model = co_await load_tiny(two_replica_options(kReplicaLongContext));
          std::vector<TokenStream> streams =
              co_await start_holding_streams(*model, static_cast<int>(kTwoReplicas * kSlotsPerReplica), "Running");
          const std::array<pid_t, kTwoReplicas> servers{model->server_pid(0), model->server_pid(1)};
          if (::write(fd, servers.data(), sizeof(servers)) != static_cast<ssize_t>(sizeof(servers))) ::_exit(1);
          for (;;) {
            std::optional<Token> more = co_await streams.front().next();
            if (!more) streams.front() = model->generate("Running", greedy(kHoldingTokens));
          }
        },
        asio::detached);
    io.run();
  } catch (...) {
  }
  ::_exit(1);
}

TEST(LlamaCppReplicaLifetimeTest, HostKilledWithSigkillLeavesNeitherReplicaBehind) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  // Orphans are re-parented to us instead of init, so the test can see (and reap) the servers.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t host = ::fork();
  ASSERT_GE(host, 0);
  if (host == 0) {
    ::close(report[0]);
    run_host(report[1]);
  }
  ::close(report[1]);
  std::array<pid_t, kTwoReplicas> servers{};
  const auto got = ::read(report[0], servers.data(), sizeof(servers));
  ::close(report[0]);
  if (got != static_cast<ssize_t>(sizeof(servers))) {
    ::kill(host, SIGKILL);
    ::waitpid(host, nullptr, 0);
    FAIL() << "the host process did not report two streaming servers";
  }
  for (const pid_t server : servers) EXPECT_TRUE(process_exists(server));
  ASSERT_EQ(::kill(host, SIGKILL), 0);
  ASSERT_EQ(::waitpid(host, nullptr, 0), host);
  for (const pid_t server : servers) {
    const bool gone = wait_process_gone(server);
    if (!gone) ::kill(server, SIGKILL);  // do not leak it into other tests
    EXPECT_TRUE(gone) << "llama-server " << server << " outlived its SIGKILLed host";
  }
  EXPECT_TRUE(no_child_process_left());
}

}  // namespace
}  // namespace inference::llama_cpp::test
