// LlamaServerModel's process lifetime and isolation: close() and destruction leave no child
// and no zombie, a host killed with SIGKILL leaves no server behind, and the server is reachable
// only by its owner with the per-launch key.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstring>
#include <string>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/server_error.hpp"
#include "llama_cpp_fixture.hpp"
#include "stream_helpers.hpp"
#include "support/greedy_config.hpp"

namespace inference::llama_cpp::test {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

constexpr uint32_t kShortContextPerSlot = 256;
constexpr int32_t kShortGeneration = 8;
constexpr int32_t kUntilContextFull = 1'000'000;
// Who the isolation test impersonates: the conventional "nobody".
constexpr uid_t kOtherUser = 65534;
constexpr int kChildConnected = 1;
constexpr int kChildRefused = 0;
constexpr int kChildSetupFailed = 2;
constexpr unsigned kUnauthorized = 401;

using ::inference::test::greedy;

TEST(LlamaCppLifetimeTest, CloseEndsInFlightStreamsWithClosedAndLeavesNoChildProcess) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  int pid = 0;
  run_test([&]() -> asio::awaitable<void> {
    LoadOptions options = tiny_options();
    options.backend_options["ignore_eos"] = "1";
    auto model = co_await load_tiny(options);
    pid = model->server_pid();
    TokenStream stream = model->generate("Running", greedy(kUntilContextFull));
    std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first.has_value());
    co_await model->close();
    EXPECT_FALSE(process_exists(pid)) << "llama-server " << pid << " outlived close()";
    std::optional<Error> error = co_await drain_error(stream);
    EXPECT_TRUE(error && error->is(errc::closed)) << (error ? error->what() : "no error");
    TokenStream refused = model->generate("After close", greedy(kShortGeneration));
    std::optional<Error> refusal = co_await drain_error(refused);
    EXPECT_TRUE(refusal && refusal->is(errc::closed));
  });
  EXPECT_GT(pid, 0);
  EXPECT_TRUE(no_children_left());
}

// close_mode=drain: close() is woken by the running request's end (SlotPool::wait_idle), so the
// stream gets all its tokens and its normal end, and only then is the server stopped.
TEST(LlamaCppLifetimeTest, CloseWithDrainLetsTheRunningStreamFinishThenStopsTheServer) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  int pid = 0;
  run_test([&]() -> asio::awaitable<void> {
    LoadOptions options = tiny_options();
    options.backend_options["ignore_eos"] = "1";
    options.backend_options["close_mode"] = "drain";
    auto model = co_await load_tiny(options);
    pid = model->server_pid();
    TokenStream stream = model->generate("Draining", greedy(kShortGeneration));
    std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first.has_value());
    co_await model->close();
    EXPECT_FALSE(process_exists(pid)) << "llama-server " << pid << " outlived close()";
    int32_t tokens = 1;
    for (;;) {
      std::optional<Token> token = co_await stream.next();
      if (!token) break;
      ++tokens;
    }
    EXPECT_EQ(tokens, kShortGeneration);
    EXPECT_EQ(stream.result().finish_reason, FinishReason::length);
  });
  EXPECT_GT(pid, 0);
  EXPECT_TRUE(no_children_left());
}

TEST(LlamaCppLifetimeTest, DestroyingTheModelWithoutCloseLeavesNoChildAndNoZombie) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  int pid = 0;
  run_test([&]() -> asio::awaitable<void> {
    LoadOptions options = tiny_options();
    options.backend_options["ignore_eos"] = "1";
    auto model = co_await load_tiny(options);
    pid = model->server_pid();
    TokenStream stream = model->generate("Running", greedy(kUntilContextFull));
    std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first.has_value());
    // Neither close() nor cancel(): the stream and the model are simply dropped.
  });
  // run_test returned only after the io_context ran out of work: nothing is left to reap it.
  EXPECT_GT(pid, 0);
  EXPECT_FALSE(process_exists(pid)) << "llama-server " << pid << " (or its zombie) outlived the model";
  EXPECT_TRUE(no_children_left());
}

TEST(LlamaCppLifetimeTest, HostKilledWithSigkillLeavesNoServerBehind) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  // Orphans are re-parented to us instead of init, so the test can see (and reap) the server.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t host = ::fork();
  ASSERT_GE(host, 0);
  if (host == 0) {
    // The host never returns into the test framework: it reports the server's pid while
    // streaming, then keeps streaming until it is killed.
    ::close(report[0]);
    try {
      asio::io_context io;
      asio::co_spawn(
          io,
          [fd = report[1]]() -> asio::awaitable<void> {
            LoadOptions options = tiny_options();
            options.backend_options["ignore_eos"] = "1";
            auto model = co_await load_tiny(options);
            TokenStream stream = model->generate("Running", greedy(kUntilContextFull));
            std::optional<Token> first = co_await stream.next();
            const pid_t server = model->server_pid();
            if (!first || ::write(fd, &server, sizeof(server)) != sizeof(server)) ::_exit(1);
            for (;;) {
              std::optional<Token> more = co_await stream.next();
              if (!more) stream = model->generate("Running", greedy(kUntilContextFull));
            }
          },
          asio::detached);
      io.run();
    } catch (...) {
    }
    ::_exit(1);
  }
  ::close(report[1]);
  pid_t server = -1;
  const auto got = ::read(report[0], &server, sizeof(server));
  ::close(report[0]);
  if (got != static_cast<ssize_t>(sizeof(server))) {
    ::kill(host, SIGKILL);
    ::waitpid(host, nullptr, 0);
    FAIL() << "the host process did not report a streaming server";
  }
  EXPECT_TRUE(process_exists(server));
  ASSERT_EQ(::kill(host, SIGKILL), 0);
  ASSERT_EQ(::waitpid(host, nullptr, 0), host);
  const bool gone = wait_process_gone(server);
  if (!gone) ::kill(server, SIGKILL);  // do not leak it into other tests
  EXPECT_TRUE(gone) << "llama-server " << server << " outlived its SIGKILLed host";
}

// In a forked child running as kOtherUser: can it connect to the socket at `path`?
int connect_as_other_user(const std::string& path) {
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(kOtherUser) != 0 || ::setuid(kOtherUser) != 0) ::_exit(kChildSetupFailed);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
    const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
    ::_exit(connected ? kChildConnected : kChildRefused);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : kChildSetupFailed;
}

TEST(LlamaCppLifetimeTest, UnixSocketIsPrivateToItsOwnerAndRequestsWithoutTheKeyAreRefused) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    const ServerEndpoint endpoint = endpoint_of(*model);
    EXPECT_TRUE(endpoint.is_unix_socket());
    if (endpoint.is_unix_socket()) {
      struct stat directory {};
      EXPECT_EQ(::stat(endpoint.socket_path().parent_path().c_str(), &directory), 0);
      EXPECT_EQ(directory.st_mode & (S_IRWXG | S_IRWXO), 0U)
          << "socket directory mode " << std::oct << (directory.st_mode & 07777);
      EXPECT_EQ(directory.st_uid, ::getuid());
      if (::getuid() == 0) {
        // Root passes every permission check; a real other user must not get through.
        EXPECT_EQ(connect_as_other_user(endpoint.socket_path().string()), kChildRefused);
      }

      const ServerEndpoint keyless = ServerEndpoint::unix_socket(endpoint.socket_path(), "");
      llama_server::HttpConnection connection(co_await asio::this_coro::executor, keyless);
      unsigned status = 0;
      try {
        const auto response = co_await connection.request(llama_server::HttpMethod::get, "/slots");
        status = response.status;
      } catch (const llama_server::ServerError& e) {
        status = e.status();
      }
      EXPECT_EQ(status, kUnauthorized);
    }
    // With the key it serves.
    const int busy = co_await slots_processing(endpoint);
    EXPECT_EQ(busy, 0);
    co_await model->close();
  });
}

}  // namespace
}  // namespace inference::llama_cpp::test
