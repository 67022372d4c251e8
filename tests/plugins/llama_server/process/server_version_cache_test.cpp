// The version memo: a binary is probed once per file identity, and probed again when the file
// changes or its last probe failed; a probe never blocks the executor it runs on.
#include "inference/llama_server/server_version_cache.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <cerrno>
#include <exception>
#include <filesystem>
#include <fstream>
#include <istream>
#include <optional>
#include <string>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

// probe_server_version_cached() run to completion on an io_context of its own.
ServerVersion cached(const fs::path& binary) {
  asio::io_context io;
  auto version = asio::co_spawn(io, probe_server_version_cached(binary), asio::use_future);
  io.run();
  return version.get();
}

// A FIFO the test holds open for reading and writing, so that neither the fake server's open nor
// the test's ever blocks; what is written stays buffered until it is read.
class Fifo {
 public:
  explicit Fifo(const fs::path& path) : path_(path) {
    EXPECT_EQ(::mkfifo(path.c_str(), 0600), 0);
    fd_ = ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    EXPECT_GE(fd_, 0);
  }
  Fifo(const Fifo&) = delete;
  Fifo& operator=(const Fifo&) = delete;
  ~Fifo() {
    if (fd_ >= 0) ::close(fd_);
  }
  const fs::path& path() const { return path_; }
  // A descriptor of our own for asynchronous reads on `io`.
  asio::posix::stream_descriptor reader(asio::io_context& io) const { return {io, ::dup(fd_)}; }
  void write_line(const std::string& line) const {
    const std::string text = line + "\n";
    EXPECT_EQ(::write(fd_, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  }

 private:
  fs::path path_;
  int fd_ = -1;
};

class ServerVersionCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = (fs::temp_directory_path() / "server-version-cache-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(name.data()), nullptr);
    root_ = name;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  // A stand-in that prints a version line; each run appends a line to runs.log so the test can
  // count real executions independently of the cache's own counter.
  fs::path fake_server(const std::string& name, int build) {
    const fs::path path = root_ / name;
    std::ofstream(path) << "#!/bin/sh\necho run >> '" << (root_ / "runs.log").string() << "'\n"
                        << "echo 'version: " << build << " (abcdef12)' >&2\n";
    fs::permissions(path, fs::perms::owner_all);
    return path;
  }
  int runs() const {
    std::ifstream log(root_ / "runs.log");
    int lines = 0;
    for (std::string line; std::getline(log, line);) ++lines;
    return lines;
  }

  fs::path root_;
};

TEST_F(ServerVersionCacheTest, SecondProbeOfAnUnchangedBinaryDoesNotRunIt) {
  const auto binary = fake_server("llama-server", 7001);
  EXPECT_EQ(cached(binary).build, 7001);
  EXPECT_EQ(cached(binary).build, 7001);
  EXPECT_EQ(runs(), 1);
}

TEST_F(ServerVersionCacheTest, ASymlinkSharesTheEntryOfItsTarget) {
  const auto binary = fake_server("llama-server", 7002);
  const auto link = root_ / "link-to-server";
  fs::create_symlink(binary, link);
  EXPECT_EQ(cached(binary).build, 7002);
  EXPECT_EQ(cached(link).build, 7002);
  EXPECT_EQ(runs(), 1);
}

TEST_F(ServerVersionCacheTest, ReplacingTheBinaryProbesAgain) {
  const auto binary = fake_server("llama-server", 7003);
  EXPECT_EQ(cached(binary).build, 7003);
  // An upgrade writes a new file: a different size here (and a new inode when renamed over).
  const auto upgraded = fake_server("llama-server.new", 17004);
  fs::rename(upgraded, binary);
  EXPECT_EQ(cached(binary).build, 17004);
  EXPECT_EQ(runs(), 2);
}

TEST_F(ServerVersionCacheTest, AFailedProbeIsNotRemembered) {
  const fs::path binary = root_ / "broken";
  std::ofstream(binary) << "#!/bin/sh\necho run >> '" << (root_ / "runs.log").string() << "'\nexit 3\n";
  fs::permissions(binary, fs::perms::owner_all);
  EXPECT_THROW(cached(binary), Error);
  EXPECT_THROW(cached(binary), Error);
  EXPECT_EQ(runs(), 2);
}

// The probe awaits its child on the caller's executor instead of blocking it: on a one-thread
// io_context another coroutine runs while the probe is in flight (its fake server has started and
// waits), and the probe can finish only because that coroutine lets the fake server answer. A
// blocking probe would hold the thread until its timeout and fail.
TEST_F(ServerVersionCacheTest, AnotherCoroutineRunsWhileAProbeIsInFlight) {
  const Fifo started(root_ / "started");
  const Fifo go(root_ / "go");
  const fs::path binary = root_ / "llama-server";
  std::ofstream(binary) << "#!/bin/sh\necho started > '" << started.path().string() << "'\n"
                        << "read line < '" << go.path().string() << "'\n"
                        << "echo 'version: 7005 (abcdef12)' >&2\n";
  fs::permissions(binary, fs::perms::owner_all);

  asio::io_context io(1);
  std::optional<ServerVersion> version;
  std::exception_ptr failure;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { version = co_await probe_server_version_cached(binary); },
      [&](std::exception_ptr e) { failure = e; });
  bool probe_was_in_flight = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto events = started.reader(io);
        asio::streambuf line;
        co_await asio::async_read_until(events, line, '\n', asio::use_awaitable);
        probe_was_in_flight = !version && !failure;
        go.write_line("go");
      },
      asio::detached);
  io.run();

  if (failure) std::rethrow_exception(failure);
  EXPECT_TRUE(probe_was_in_flight) << "the other coroutine ran only after the probe";
  ASSERT_TRUE(version);
  EXPECT_EQ(version->build, 7005);
}

// Cancelling a load while it probes ends the probe at once: the child is killed and reaped and
// the probe throws cancelled.
TEST_F(ServerVersionCacheTest, ACancelledProbeKillsAndReapsItsChild) {
  const Fifo started(root_ / "started");
  const fs::path binary = root_ / "llama-server";
  std::ofstream(binary) << "#!/bin/sh\necho $$ > '" << started.path().string() << "'\nexec sleep 60\n";
  fs::permissions(binary, fs::perms::owner_all);

  asio::io_context io(1);
  asio::cancellation_signal cancel;
  std::exception_ptr failure;
  asio::co_spawn(
      io, probe_server_version_cached(binary),
      asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, ServerVersion) { failure = e; }));
  std::string pid;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto events = started.reader(io);
        asio::streambuf line;
        co_await asio::async_read_until(events, line, '\n', asio::use_awaitable);
        std::istream(&line) >> pid;
        cancel.emit(asio::cancellation_type::terminal);
      },
      asio::detached);
  io.run();

  ASSERT_TRUE(failure);
  try {
    std::rethrow_exception(failure);
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::cancelled)) << e.what();
  }
  ASSERT_FALSE(pid.empty());
  EXPECT_FALSE(fs::exists("/proc/" + pid)) << "probe child " << pid << " still exists";
  EXPECT_TRUE(::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD) << "a child or zombie is left";
}

}  // namespace
}  // namespace inference::llama_server
