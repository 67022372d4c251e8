#include "inference/llama_server/server_process.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "inference/error.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/readiness_probe.hpp"
#include "inference/llama_server/server_error.hpp"
#include "supervision_fixture.hpp"

namespace inference::llama_server {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using test::kTestLoadTimeout;
using test::run_until_complete;
using test::tiny_model_spec;
using ::testing::HasSubstr;
using ::testing::Not;

// The budget from the child's death to every waiter knowing about it.
constexpr std::chrono::milliseconds kExitNoticeBudget{100};
// How long an orphaned server may take to die after its host was killed. Polling /proc (a
// condition check with a deadline, not a sleep used as synchronisation) because a process we
// are not the parent of offers no exit event to wait on.
constexpr std::chrono::seconds kOrphanDeathDeadline{10};
constexpr std::chrono::milliseconds kProcPollInterval{5};

bool process_exists(pid_t pid) { return fs::exists("/proc/" + std::to_string(pid)); }

bool no_children_left() { return ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD; }

std::string read_proc_file(pid_t pid, const char* name) {
  std::ifstream file("/proc/" + std::to_string(pid) + "/" + name, std::ios::binary);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

// Completes once a line containing `needle` went through the log sink: the event that lets a
// test act only after the child reached a given point, instead of sleeping.
class OutputEvent {
 public:
  OutputEvent(asio::io_context& io, std::string needle)
      : timer_(io, asio::steady_timer::time_point::max()), needle_(std::move(needle)) {}

  // The sink runs on the process' strand of the same single-threaded io_context as the test.
  OutputRing::LineSink sink() {
    return [this](std::string_view line) {
      if (line.find(needle_) != std::string_view::npos) {
        seen_ = true;
        timer_.cancel();
      }
    };
  }

  asio::awaitable<void> wait() {
    while (!seen_) {
      boost::system::error_code ignored;
      co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
    }
  }

 private:
  asio::steady_timer timer_;
  std::string needle_;
  bool seen_ = false;
};

// A stand-in child for supervision behaviour that does not need a real llama-server: ServerProcess
// runs whatever spec.binary names (the script ignores the llama-server arguments).
class FakeServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string name = (fs::temp_directory_path() / "fake-server-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(name.data()), nullptr);
    root_ = name;
  }
  void TearDown() override {
    std::error_code ignored;
    fs::remove_all(root_, ignored);
  }

  LaunchSpec fake_spec(const std::string& script) const {
    const fs::path binary = root_ / "fake-llama-server";
    std::ofstream(binary) << "#!/bin/sh\n" << script;
    fs::permissions(binary, fs::perms::owner_all);
    LaunchSpec spec;
    spec.binary = binary;
    spec.features = ServerFeatures{true, true, true};
    spec.model_path = "/unused.gguf";
    return spec;
  }

  fs::path root_;
};

void start_and_wait_ready(asio::io_context& io, ServerProcess& process) {
  run_until_complete(io, wait_until_ready(io.get_executor(), process.endpoint(), process, kTestLoadTimeout));
}

TEST(ServerProcessTest, RealServerVersionIsParsed) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  const auto& version = test::test_server_version();
  EXPECT_GT(version.build, 0) << version.version_line;
  EXPECT_TRUE(version.features.unix_socket) << version.version_line;
}

TEST(ServerProcessTest, ListensOnASocketOnlyItsOwnerCanReach) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  asio::io_context io;
  ServerProcess process(io.get_executor(), tiny_model_spec());
  start_and_wait_ready(io, process);

  ASSERT_TRUE(process.endpoint().is_unix_socket());
  ASSERT_TRUE(process.socket_directory());
  struct stat directory {};
  ASSERT_EQ(::stat(process.socket_directory()->c_str(), &directory), 0);
  EXPECT_EQ(directory.st_mode & 07777, 0700U);
  EXPECT_EQ(directory.st_uid, ::getuid());
  struct stat socket {};
  ASSERT_EQ(::stat(process.endpoint().socket_path().c_str(), &socket), 0);
  EXPECT_TRUE(S_ISSOCK(socket.st_mode));
  EXPECT_EQ(socket.st_mode & 0077, 0U) << "group/other bits on the socket: " << std::oct << (socket.st_mode & 0777);
}

TEST(ServerProcessTest, RequestsWithoutTheKeyAreRefused) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  asio::io_context io;
  ServerProcess process(io.get_executor(), tiny_model_spec());
  start_and_wait_ready(io, process);

  HttpConnection with_key(io.get_executor(), process.endpoint());
  EXPECT_EQ(run_until_complete(io, with_key.request(HttpMethod::get, "/props")).status, 200U);

  HttpConnection without_key(io.get_executor(), ServerEndpoint::unix_socket(process.endpoint().socket_path(), ""));
  try {
    run_until_complete(io, without_key.request(HttpMethod::get, "/props"));
    ADD_FAILURE() << "/props answered without the API key";
  } catch (const ServerError& error) {
    EXPECT_EQ(error.status(), 401U) << error.what();
  }
}

TEST(ServerProcessTest, ApiKeyTravelsInTheEnvironmentNotOnTheCommandLine) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  asio::io_context io;
  ServerProcess process(io.get_executor(), tiny_model_spec());
  start_and_wait_ready(io, process);
  const std::string& key = process.endpoint().api_key();
  EXPECT_EQ(key.size(), 2 * kApiKeyBytes);
  EXPECT_THAT(read_proc_file(process.pid(), "cmdline"), Not(HasSubstr(key)));
  EXPECT_THAT(read_proc_file(process.pid(), "environ"), HasSubstr("LLAMA_API_KEY=" + key));
  // Its own process group, so signals to the group reach anything it starts.
  EXPECT_EQ(::getpgid(process.pid()), process.pid());
}

TEST(ServerProcessTest, EveryLaunchGetsItsOwnKey) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  asio::io_context io;
  ServerProcess first(io.get_executor(), tiny_model_spec());
  ServerProcess second(io.get_executor(), tiny_model_spec());
  EXPECT_NE(first.endpoint().api_key(), second.endpoint().api_key());
  // A key from another launch opens nothing.
  start_and_wait_ready(io, first);
  start_and_wait_ready(io, second);
  HttpConnection wrong_key(io.get_executor(),
                           ServerEndpoint::unix_socket(first.endpoint().socket_path(), second.endpoint().api_key()));
  try {
    run_until_complete(io, wrong_key.request(HttpMethod::get, "/props"));
    ADD_FAILURE() << "/props answered with another launch's key";
  } catch (const ServerError& error) {
    EXPECT_EQ(error.status(), 401U) << error.what();
  }
}

// No shell anywhere: a model path full of shell syntax reaches the server as one argv element,
// verbatim, and nothing in it is executed.
TEST(ServerProcessTest, ModelPathWithShellSyntaxIsOneArgumentAndNothingRuns) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  std::string scratch = (fs::temp_directory_path() / "shell-syntax-XXXXXX").string();
  ASSERT_NE(::mkdtemp(scratch.data()), nullptr);
  // Each construct would create "pwned" (in the child's working directory, inherited from us)
  // if any shell ever saw the path.
  const fs::path weird = fs::path(scratch) / "a $(touch pwned) `touch pwned`; touch pwned && model *.gguf";
  fs::create_symlink(fs::absolute(tiny_model_spec().model_path), weird);
  const fs::path marker = fs::current_path() / "pwned";
  ASSERT_FALSE(fs::exists(marker)) << "left over from an earlier run: " << marker;

  {
    LaunchSpec spec = tiny_model_spec();
    spec.model_path = weird;
    asio::io_context io;
    ServerProcess process(io.get_executor(), spec);
    start_and_wait_ready(io, process);
    const std::string cmdline = read_proc_file(process.pid(), "cmdline");
    // argv elements are NUL-separated: the path is one of them, exactly.
    std::vector<std::string> argv;
    for (std::size_t start = 0; start < cmdline.size();) {
      const std::size_t end = cmdline.find('\0', start);
      argv.push_back(cmdline.substr(start, end - start));
      start = end == std::string::npos ? cmdline.size() : end + 1;
    }
    EXPECT_NE(std::find(argv.begin(), argv.end(), weird.string()), argv.end()) << cmdline;
  }
  EXPECT_FALSE(fs::exists(marker));
  std::error_code ignored;
  fs::remove_all(scratch, ignored);
}

TEST(ServerProcessTest, KillNineIsObservedWithTheSignalAndTheLastOutput) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  asio::io_context io;
  ServerProcess process(io.get_executor(), tiny_model_spec());
  start_and_wait_ready(io, process);

  const auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(process.pid(), SIGKILL), 0);
  const ExitStatus status = run_until_complete(io, process.async_wait_exit());
  const auto noticed_after = std::chrono::steady_clock::now() - killed_at;

  EXPECT_EQ(status.signal, SIGKILL);
  EXPECT_FALSE(status.exit_code);
  EXPECT_THAT(status.describe(), HasSubstr("signal 9"));
  // Not the very last lines: llama-server logs from a background thread, and what that thread
  // had not written yet when the child was killed is lost.
  EXPECT_THAT(status.output_tail, HasSubstr("load_model"));
  EXPECT_LT(noticed_after, kExitNoticeBudget);
  EXPECT_FALSE(process_exists(process.pid()));
  // A second waiter gets the same answer at once.
  EXPECT_EQ(run_until_complete(io, process.async_wait_exit()).signal, SIGKILL);
}

TEST(ServerProcessTest, TerminateStopsGracefullyAndReaps) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  asio::io_context io;
  ServerProcess process(io.get_executor(), tiny_model_spec());
  start_and_wait_ready(io, process);
  const pid_t pid = process.pid();

  // The engine's default shutdown grace: llama-server frees the model in well under a second.
  const ExitStatus status = run_until_complete(io, process.terminate(std::chrono::seconds(5)));
  // llama-server installs its SIGTERM handler shortly *after* /health turns 200 (and after it
  // logs "listening"), so a SIGTERM right after readiness may still meet the default action.
  EXPECT_TRUE(status.exit_code == 0 || status.signal == SIGTERM) << status.describe() << "\n" << status.output_tail;
  EXPECT_FALSE(process_exists(pid)) << "pid " << pid << " still in /proc (zombie?)";
  EXPECT_TRUE(no_children_left());
}

// The kernel's view, which a failed request consults before the exit is observed: alive while
// the child runs, dead as soon as it is (here the io_context never runs, so the watcher cannot
// observe the exit at all).
TEST_F(FakeServerTest, HasExitedSeesTheDeathBeforeItIsObserved) {
  asio::io_context io;
  ServerProcess process(io.get_executor(), fake_spec("exec sleep 60\n"));
  EXPECT_FALSE(process.has_exited());
  ASSERT_EQ(::kill(process.pid(), SIGKILL), 0);
  siginfo_t info{};
  // Waits for the death without reaping: the zombie stays for the process to reap.
  ASSERT_EQ(::waitid(P_PID, static_cast<id_t>(process.pid()), &info, WEXITED | WNOWAIT), 0);
  EXPECT_TRUE(process.has_exited());
  EXPECT_FALSE(process.exit_status()) << "the exit is not observed yet";
}

TEST_F(FakeServerTest, TerminateEscalatesToSigkillAfterTheGrace) {
  asio::io_context io;
  OutputEvent deaf(io, "ignoring SIGTERM");
  ServerProcessOptions options;
  options.log_sink = deaf.sink();
  // SIG_IGN survives exec, so `sleep` ignores SIGTERM too; only SIGKILL ends it.
  ServerProcess process(io.get_executor(), fake_spec("trap '' TERM\necho ignoring SIGTERM\nexec sleep 60\n"),
                        std::move(options));
  run_until_complete(io, deaf.wait());
  const auto started = std::chrono::steady_clock::now();
  const ExitStatus status = run_until_complete(io, process.terminate(std::chrono::milliseconds(200)));
  EXPECT_EQ(status.signal, SIGKILL) << status.describe();
  EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(200));
  EXPECT_TRUE(no_children_left());
}

TEST_F(FakeServerTest, ExitCodeAndLastWordsReachWaitersAndTheSink) {
  asio::io_context io;
  std::vector<std::string> lines;
  ServerProcessOptions options;
  options.log_sink = [&](std::string_view line) { lines.emplace_back(line); };
  ServerProcess process(io.get_executor(), fake_spec("echo one\necho two >&2\nprintf 'last words'\nexit 3\n"),
                        std::move(options));
  const ExitStatus status = run_until_complete(io, process.async_wait_exit());
  EXPECT_EQ(status.exit_code, 3);
  EXPECT_EQ(status.output_tail, "one\ntwo\nlast words");
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "last words"}));
  EXPECT_EQ(process.exit_status()->exit_code, 3);
}

TEST_F(FakeServerTest, DestructorKillsWhatTheChildStartedToo) {
  asio::io_context io;
  OutputEvent started(io, "grandchild");
  ServerProcessOptions options;
  options.log_sink = started.sink();
  pid_t grandchild = -1;
  {
    ServerProcess process(io.get_executor(), fake_spec("sleep 60 &\necho grandchild $!\nwait\n"), std::move(options));
    run_until_complete(io, started.wait());
    const std::string tail = process.output_tail(1);
    grandchild = std::stoi(tail.substr(tail.find(' ') + 1));
    ASSERT_TRUE(process_exists(grandchild));
  }
  // The grandchild is not ours to reap (init or a subreaper does), so wait for it to vanish or
  // become a zombie: either way it no longer runs.
  const auto deadline = std::chrono::steady_clock::now() + kOrphanDeathDeadline;
  const auto running = [&] {
    const std::string stat = read_proc_file(grandchild, "stat");
    const auto state_at = stat.rfind(')');
    return state_at != std::string::npos && state_at + 2 < stat.size() && stat[state_at + 2] != 'Z';
  };
  for (;;) {
    ::waitpid(grandchild, nullptr, WNOHANG);  // reaps it if we are its subreaper
    if (!running() || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(kProcPollInterval);
  }
  EXPECT_FALSE(running()) << "grandchild " << grandchild << " survived";
}

TEST(ServerProcessTest, DestructorLeavesNoProcessNoZombieAndNoSocketDirectory) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  asio::io_context io;
  pid_t pid = -1;
  fs::path directory;
  {
    ServerProcess process(io.get_executor(), tiny_model_spec());
    pid = process.pid();
    directory = process.socket_directory().value_or(fs::path());
    ASSERT_TRUE(process_exists(pid));
  }  // destroyed while still loading, without terminate()
  EXPECT_FALSE(process_exists(pid));
  EXPECT_TRUE(no_children_left());
  EXPECT_FALSE(fs::exists(directory));
  io.run();  // the internal watcher and reader finish on their own
}

TEST(ServerProcessTest, WaiterOutlivingTheObjectCompletesWithUnknownStatus) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  asio::io_context io;
  auto process = std::make_unique<ServerProcess>(io.get_executor(), tiny_model_spec());
  auto waiter = asio::co_spawn(io, process->async_wait_exit(), asio::use_future);
  io.poll();
  process.reset();
  io.run();
  const ExitStatus status = waiter.get();
  EXPECT_FALSE(status.exit_code);
  EXPECT_FALSE(status.signal);
}

TEST(ServerProcessTest, TcpTransportListensOnLoopback) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  asio::io_context io;
  auto spec = tiny_model_spec();
  spec.transport = TransportChoice::tcp;
  ServerProcess process(io.get_executor(), spec);
  EXPECT_FALSE(process.endpoint().is_unix_socket());
  EXPECT_FALSE(process.socket_directory());
  start_and_wait_ready(io, process);
  HttpConnection connection(io.get_executor(), process.endpoint());
  EXPECT_EQ(run_until_complete(io, connection.request(HttpMethod::get, "/props")).status, 200U);
}

TEST(ServerProcessTest, KilledHostLeavesNoServerBehind) {
  INFERENCE_SKIP_WITHOUT_REAL_SERVER();
  // Orphans are re-parented to us instead of init, so we can reap the server and see its fate.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  const auto spec = tiny_model_spec();  // probe before forking: the host must not fork twice
  // The killed host cannot clean up its socket directory; keep it where the test can.
  std::string runtime = (fs::temp_directory_path() / "host-test-XXXXXX").string();
  ASSERT_NE(::mkdtemp(runtime.data()), nullptr);
  int report[2];
  ASSERT_EQ(::pipe(report), 0);

  const pid_t host = ::fork();
  ASSERT_GE(host, 0);
  if (host == 0) {
    // The host never returns into the test framework: it reports the server's pid or fails.
    ::close(report[0]);
    try {
      asio::io_context io;
      ServerProcessOptions options;
      options.runtime_directory = runtime;
      ServerProcess process(io.get_executor(), spec, std::move(options));
      const pid_t server = process.pid();
      if (::write(report[1], &server, sizeof(server)) != sizeof(server)) ::_exit(1);
      for (;;) ::pause();  // until the test kills us
    } catch (...) {
      ::_exit(1);
    }
  }
  ::close(report[1]);
  pid_t server = -1;
  ASSERT_EQ(::read(report[0], &server, sizeof(server)), static_cast<ssize_t>(sizeof(server)));
  ::close(report[0]);
  ASSERT_TRUE(process_exists(server));

  ASSERT_EQ(::kill(host, SIGKILL), 0);
  ASSERT_EQ(::waitpid(host, nullptr, 0), host);

  int server_status = 0;
  pid_t reaped = 0;
  const auto deadline = std::chrono::steady_clock::now() + kOrphanDeathDeadline;
  while ((reaped = ::waitpid(server, &server_status, WNOHANG)) == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(kProcPollInterval);
  }
  if (reaped == 0) ::kill(server, SIGKILL);  // do not leak it into other tests
  std::error_code ignored;
  fs::remove_all(runtime, ignored);
  ASSERT_EQ(reaped, server) << "llama-server outlived its host";
  EXPECT_TRUE(WIFSIGNALED(server_status) && WTERMSIG(server_status) == SIGKILL);
  EXPECT_FALSE(process_exists(server));
}

}  // namespace
}  // namespace inference::llama_server
