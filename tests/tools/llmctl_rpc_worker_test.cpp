// llmctl rpc-worker with the real ggml-rpc-server (scripts/install-llama-server-gpu rpc): it
// announces a worker that llama-server's RPC backend can see, the worker dies with llmctl (even on
// SIGKILL), a killed worker is restarted on the same port, SIGTERM/SIGINT stop it with status 0,
// and a non-loopback bind is refused without --allow-remote-bind. Ports are picked free by the
// test (bind port 0, read it, close).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "inference/llama_server/server_binary.hpp"
#include "llmctl_process.hpp"
#include "support/child_processes.hpp"
#include "support/scratch_directory.hpp"
#include "support/test_inputs.hpp"

namespace {

using llmctl_test::LlmctlProcess;
using llmctl_test::run_llmctl;
using llmctl_test::RunResult;
using namespace std::chrono_literals;

// Generous: the worker lists its devices within milliseconds, but the machine may be loaded.
constexpr auto kServingTimeout = 60s;
constexpr auto kExitTimeout = 30s;
constexpr std::string_view kServing = "rpc-worker: serving ";

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// A TCP socket bound (and, when `listen_too`, listening) on host:0; closes on destruction.
class BoundSocket {
 public:
  BoundSocket(const char* host, bool listen_too) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    ::inet_pton(AF_INET, host, &address.sin_addr);
    socklen_t length = sizeof(address);
    const bool ok = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                    (!listen_too || ::listen(fd_, 1) == 0) &&
                    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0;
    port_ = ok ? ntohs(address.sin_port) : 0;
  }
  BoundSocket(const BoundSocket&) = delete;
  BoundSocket& operator=(const BoundSocket&) = delete;
  ~BoundSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int fd_;
  std::uint16_t port_ = 0;
};

std::string free_port() { return std::to_string(BoundSocket("127.0.0.1", false).port()); }

// A client connection to 127.0.0.1:port (what a llama-server using the worker holds); -1 on failure.
int connect_to(const std::string& port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(std::stoi(port)));
  ::inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

// The pid in the `nth` (0-based) serving line on stdout, once it is there; std::nullopt on timeout.
std::optional<pid_t> wait_for_serving(const LlmctlProcess& llmctl, std::size_t nth, std::string* line_out = nullptr) {
  const auto deadline = std::chrono::steady_clock::now() + kServingTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string out = llmctl.output_so_far();
    std::size_t at = 0;
    std::size_t seen = 0;
    while ((at = out.find(kServing, at)) != std::string::npos) {
      const auto end = out.find('\n', at);
      if (end == std::string::npos) break;
      if (seen++ == nth) {
        const std::string line = out.substr(at, end - at);
        if (line_out != nullptr) *line_out = line;
        return static_cast<pid_t>(std::stol(line.substr(line.rfind(" pid ") + 5)));
      }
      at = end;
    }
    llmctl.wait_for_output(out.size() + 1, 1s);
  }
  return std::nullopt;
}

// `llama-server-rpc --rpc 127.0.0.1:PORT --list-devices`: what llama.cpp's RPC client sees.
std::string list_rpc_devices(const std::filesystem::path& server, const std::string& port) {
  const std::string command = "'" + server.string() + "' --rpc 127.0.0.1:" + port + " --list-devices 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {};
  std::string out;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0;) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

class LlmctlRpcWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      inference::llama_server::find_rpc_worker_binary(std::nullopt);
    } catch (const std::exception& e) {
      GTEST_SKIP() << "no ggml-rpc-server (scripts/install-llama-server-gpu rpc): " << e.what();
    }
  }

  std::vector<std::string> worker(const std::string& port) const { return {"rpc-worker", "--port", port}; }
};

TEST_F(LlmctlRpcWorkerTest, ServesAWorkerThatLlamaServersRpcBackendLists) {
  const auto rpc_server = inference::llama_server::configured_runtime_server_binary("rpc");
  if (!rpc_server) GTEST_SKIP() << "no llama-server-rpc beside the configured llama-server";
  const std::string port = free_port();
  LlmctlProcess llmctl(worker(port));
  std::string line;
  const auto pid = wait_for_serving(llmctl, 0, &line);
  ASSERT_TRUE(pid) << describe(llmctl.wait());
  EXPECT_NE(line.find("serving 127.0.0.1:" + port + " ("), std::string::npos) << line;
  EXPECT_NE(line.find(" MiB)"), std::string::npos) << line;  // the device and its memory

  const std::string devices = list_rpc_devices(*rpc_server, port);
  EXPECT_NE(devices.find("RPC0: 127.0.0.1:" + port), std::string::npos) << devices;

  llmctl.send_signal(SIGTERM);
  const auto r = llmctl.wait();
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_TRUE(inference::test::wait_until_exited(*pid, kExitTimeout));
  EXPECT_NE(r.err.find("ggml-rpc-server: Accepted client connection"), std::string::npos) << describe(r);
}

// The token ids of `llmctl generate --json` (its {"id":N,"text":...} lines).
std::vector<long> generated_ids(const RunResult& r) {
  std::vector<long> ids;
  for (const std::string& line : r.out_lines()) {
    if (!line.starts_with("{\"id\":")) continue;
    ids.push_back(std::stol(line.substr(6)));
  }
  return ids;
}

// Issue 17's scenario on one machine: two workers run by `llmctl rpc-worker`, the tiny model split
// over them by `llmctl generate --rpc`, greedy: the same token ids as one llama-server alone.
TEST_F(LlmctlRpcWorkerTest, TwoWorkersItRunsServeAModelSplitOverThemWithTheSameGreedyTokens) {
  if (!inference::llama_server::configured_runtime_server_binary("rpc")) {
    GTEST_SKIP() << "no llama-server-rpc beside the configured llama-server";
  }
  const std::string model = inference::test::tiny_model_for_tests().string();
  if (!std::filesystem::exists(model)) GTEST_SKIP() << "no test model at " << model;
  const std::string first_port = free_port();
  const std::string second_port = free_port();
  LlmctlProcess first(worker(first_port));
  LlmctlProcess second(worker(second_port));
  ASSERT_TRUE(wait_for_serving(first, 0)) << describe(first.wait());
  ASSERT_TRUE(wait_for_serving(second, 0)) << describe(second.wait());

  const std::vector<std::string> generate = {"generate",
                                             "--plugin-dir",
                                             llmctl_test::plugin_dir().string(),
                                             "--backend",
                                             "llama_cpp",
                                             "--model",
                                             model,
                                             "--max-tokens",
                                             "12",
                                             "--temperature",
                                             "0",
                                             "--json",
                                             "Once upon a time"};
  const RunResult alone = run_llmctl(generate);
  ASSERT_EQ(alone.exit_code, 0) << describe(alone);
  std::vector<std::string> with_workers = generate;
  with_workers.insert(with_workers.begin() + 1, {"--rpc", "127.0.0.1:" + first_port + ",127.0.0.1:" + second_port});
  const RunResult split = run_llmctl(with_workers);
  ASSERT_EQ(split.exit_code, 0) << describe(split);
  EXPECT_EQ(generated_ids(split).size(), 12U) << describe(split);
  EXPECT_EQ(generated_ids(split), generated_ids(alone));
  EXPECT_NE(split.out.find("RPC: 127.0.0.1:" + first_port + ", 127.0.0.1:" + second_port), std::string::npos)
      << "the serving device names both workers: " << split.out;

  for (LlmctlProcess* worker_process : {&first, &second}) {
    worker_process->send_signal(SIGTERM);
    const RunResult r = worker_process->wait();
    EXPECT_EQ(r.exit_code, 0) << describe(r);
    EXPECT_NE(r.err.find("ggml-rpc-server: Accepted client connection"), std::string::npos) << describe(r);
  }
}

TEST_F(LlmctlRpcWorkerTest, TheWorkerDiesWhenLlmctlIsKilled) {
  LlmctlProcess llmctl(worker(free_port()));
  const auto pid = wait_for_serving(llmctl, 0);
  ASSERT_TRUE(pid) << describe(llmctl.wait());
  llmctl.send_signal(SIGKILL);
  EXPECT_EQ(llmctl.wait().exit_code, -SIGKILL);
  EXPECT_TRUE(inference::test::wait_until_exited(*pid, kExitTimeout));
}

TEST_F(LlmctlRpcWorkerTest, AKilledWorkerIsRestartedOnTheSamePort) {
  const std::string port = free_port();
  LlmctlProcess llmctl(worker(port));
  const auto first = wait_for_serving(llmctl, 0);
  ASSERT_TRUE(first) << describe(llmctl.wait());
  // With a client connected, the dying worker's side of it lingers in TIME_WAIT on the port: the
  // new worker must bind anyway.
  const int client = connect_to(port);
  ASSERT_GE(client, 0) << std::strerror(errno);
  ASSERT_EQ(::kill(*first, SIGKILL), 0);

  std::string line;
  const auto second = wait_for_serving(llmctl, 1, &line);
  ASSERT_TRUE(second) << describe(llmctl.wait());
  EXPECT_NE(*second, *first);
  EXPECT_NE(line.find("serving 127.0.0.1:" + port), std::string::npos) << line;
  ::close(client);

  llmctl.send_signal(SIGINT);
  const auto r = llmctl.wait();
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("was killed by signal 9 (KILL); restarting in"), std::string::npos) << describe(r);
  EXPECT_TRUE(inference::test::wait_until_exited(*second, kExitTimeout));
}

TEST_F(LlmctlRpcWorkerTest, SigtermStopsTheWorkerAndExitsZero) {
  LlmctlProcess llmctl(worker(free_port()));
  const auto pid = wait_for_serving(llmctl, 0);
  ASSERT_TRUE(pid) << describe(llmctl.wait());
  llmctl.send_signal(SIGTERM);
  const auto r = llmctl.wait();
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("signal 15: stopping ggml-rpc-server (pid " + std::to_string(*pid) + ")"), std::string::npos)
      << describe(r);
  EXPECT_TRUE(inference::test::wait_until_exited(*pid, kExitTimeout));
  EXPECT_TRUE(inference::test::no_child_process_left());  // llmctl itself is reaped too
}

TEST_F(LlmctlRpcWorkerTest, ANonLoopbackBindIsRefusedWithoutTheFlag) {
  for (const std::string host : {"0.0.0.0", "192.0.2.7", "::"}) {
    const auto r = run_llmctl({"rpc-worker", "--port", free_port(), "--host", host});
    EXPECT_EQ(r.exit_code, 2) << host << "\n" << describe(r);
    EXPECT_NE(r.err.find("refusing --host " + host + ": ggml-rpc-server has no authentication"), std::string::npos)
        << describe(r);
    EXPECT_NE(r.err.find("read and write the worker's memory buffers"), std::string::npos) << describe(r);
    EXPECT_NE(r.err.find("--allow-remote-bind"), std::string::npos) << describe(r);
    EXPECT_EQ(r.err.find("ggml-rpc-server:"), std::string::npos) << "a worker was started\n" << describe(r);
  }
}

// Without exposing a worker to the network: 0.0.0.0 is passed by the flag and reaches the bind,
// which fails because the test holds the port.
TEST_F(LlmctlRpcWorkerTest, AllowRemoteBindLetsTheWildcardAddressThrough) {
  const BoundSocket taken("0.0.0.0", true);
  const std::string port = std::to_string(taken.port());
  const auto r = run_llmctl({"rpc-worker", "--port", port, "--host", "0.0.0.0", "--allow-remote-bind"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_EQ(r.err.find("refusing"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("0.0.0.0:" + port + " is already in use"), std::string::npos) << describe(r);
}

TEST_F(LlmctlRpcWorkerTest, APortInUseIsAClearErrorAndStartsNoWorker) {
  const BoundSocket taken("127.0.0.1", true);
  const std::string port = std::to_string(taken.port());
  const auto r = run_llmctl(worker(port));
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("llmctl: rpc-worker: 127.0.0.1:" + port + " is already in use"), std::string::npos)
      << describe(r);
  EXPECT_EQ(r.err.find("ggml-rpc-server:"), std::string::npos) << describe(r);
}

TEST_F(LlmctlRpcWorkerTest, AMissingWorkerBinarySaysHowToInstallIt) {
  const auto r = run_llmctl({"rpc-worker", "--port", free_port(), "--worker-path", "/nonexistent/ggml-rpc-server"});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("no usable ggml-rpc-server"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("scripts/install-llama-server-gpu rpc"), std::string::npos) << describe(r);
}

// A stand-in worker (--worker-path) that prints `line` and exits with `status` at once.
std::filesystem::path fake_worker(const std::filesystem::path& directory, const std::string& line, int status) {
  const auto path = directory / "ggml-rpc-server";
  std::ofstream(path) << "#!/bin/sh\necho '" << line << "'\nexit " << status << "\n";
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path;
}

TEST_F(LlmctlRpcWorkerTest, AWorkerThatKeepsCrashingIsGivenUpOnWithStatusOne) {
  const inference::test::ScratchDirectory scratch;
  const auto worker_path = fake_worker(scratch.path(), "boom: no device", 3);
  const auto r = run_llmctl({"--verbose", "rpc-worker", "--port", free_port(), "--worker-path", worker_path.string()});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("exited with status 3; restarting in 200 ms (1 of 3 restarts within 60 s)"), std::string::npos)
      << describe(r);
  EXPECT_NE(r.err.find("exited with status 3; restarting in 800 ms (3 of 3 restarts within 60 s)"), std::string::npos)
      << describe(r);
  EXPECT_NE(r.err.find("llmctl: rpc-worker: ggml-rpc-server (pid "), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("exited with status 3; giving up after 3 restarts within 60 s: child process exited "
                       "(child_exited)"),
            std::string::npos)
      << describe(r);
  EXPECT_NE(r.err.find("\n  boom: no device"), std::string::npos) << "--verbose quotes its last words\n" << describe(r);
  EXPECT_EQ(r.out.find(kServing), std::string::npos) << describe(r);
}

// The port taken after llmctl checked it: the worker's own bind failure ends it without restarts.
TEST_F(LlmctlRpcWorkerTest, AWorkerThatCannotBindIsNotRestarted) {
  const inference::test::ScratchDirectory scratch;
  const auto worker_path = fake_worker(scratch.path(), "Failed to create server socket", 0);
  const std::string port = free_port();
  const auto r = run_llmctl({"rpc-worker", "--port", port, "--worker-path", worker_path.string()});
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("llmctl: rpc-worker: ggml-rpc-server (pid "), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("exited with status 0: it could not bind 127.0.0.1:" + port), std::string::npos) << describe(r);
  EXPECT_EQ(r.err.find("restarting"), std::string::npos) << describe(r);
}

// A worker that never listens (a slow device start) must not make llmctl deaf to SIGTERM until the
// readiness timeout.
TEST_F(LlmctlRpcWorkerTest, ASignalBeforeTheWorkerAcceptsStopsItAndExitsZero) {
  const inference::test::ScratchDirectory scratch;
  const auto worker_path = scratch.path() / "ggml-rpc-server";
  std::ofstream(worker_path) << "#!/bin/sh\nexec sleep 600\n";
  std::filesystem::permissions(worker_path, std::filesystem::perms::owner_all);
  LlmctlProcess llmctl({"rpc-worker", "--port", free_port(), "--worker-path", worker_path.string()});
  ASSERT_TRUE(llmctl.wait_for_signal_handler(SIGTERM, kServingTimeout));
  llmctl.send_signal(SIGTERM);
  const auto r = llmctl.wait();
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("signal 15: stopping ggml-rpc-server"), std::string::npos) << describe(r);
  EXPECT_EQ(r.out.find(kServing), std::string::npos) << describe(r);
}

}  // namespace
