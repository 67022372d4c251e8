// Fault injection against the real llama-server: the test sends signals to the real child
// (found from /proc, never replaced by a fake) and feeds it files and ports it cannot use. Each
// test pins the typed error a user gets, that the model recovers when it should, and that no
// child process (server, zombie or probe) is left at the end. Detection times are printed as
// [ MEASURE  ] lines, never asserted.
//
// Complements llama_cpp_failure_test.cpp (kill -9 mid-stream with queued requests, SIGSTOP while
// streaming, restart budget, bad binary/model/flag, prompt over context) and
// llama_cpp_lifetime_test.cpp (host SIGKILL, close/destroy, socket privacy).
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "inference/llama_server/engine_option_keys.hpp"
#include "llama_cpp_fixture.hpp"
#include "stream_helpers.hpp"
#include "support/child_processes.hpp"
#include "support/scratch_directory.hpp"

namespace inference::llama_cpp::test {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using inference::test::llama_server_children;
using inference::test::no_child_process_left;
using inference::test::wait_for_llama_server_child;

constexpr int32_t kShortGeneration = 8;
constexpr int32_t kUntilContextFull = 1'000'000;
constexpr uint32_t kShortContextPerSlot = 256;
// Small enough that a stopped server is noticed quickly, far above a token's time.
constexpr std::string_view kShortStallTimeoutMs = "500";
// For the no-false-positive case: far above kBriefStop plus a loaded machine's scheduling.
constexpr std::string_view kLongStallTimeoutMs = "10000";
// How long the server is stopped when it must come back unharmed: a tenth of kLongStallTimeoutMs.
constexpr std::chrono::milliseconds kBriefStop{300};
// Tokens of the stream that is stopped briefly: at 600-2,000 tokens/s it is still generating
// (for hundreds of milliseconds) when the stop arrives right after its first token.
constexpr int32_t kBriefStopGeneration = 1'000;
// A prompt that fills most of kLongContextPerSlot (one token per " word"): about a second of
// prefill for the tiny model on one thread, in chunks of kPrefillBatch tokens between which the
// server answers GET /slots.
constexpr int kPrefillWords = 3'900;
constexpr std::string_view kPrefillBatch = "512";
// How often GET /slots is asked whether the prompt is being processed.
constexpr std::chrono::milliseconds kSlotsPollInterval{1};
// The address space the context-too-large server gets (ulimit -v, KiB): a 1 GiB machine, so the
// absurd context fails in milliseconds instead of taking gigabytes of this shared machine's RAM
// for tens of seconds (what the real server does with it unconstrained).
constexpr long kSmallMachineAddressSpaceKiB = 1L << 20;
// A context no machine holds (one slot, so the total still fits llama-server's 32-bit -c).
constexpr uint32_t kAbsurdContext = 1'000'000'000;

GenerateConfig greedy(int32_t max_tokens) {
  GenerateConfig config;
  config.max_tokens = max_tokens;
  config.temperature = 0.0F;
  return config;
}

double ms_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double, std::milli>(end - start).count();
}

double ms_since(Clock::time_point start) { return ms_between(start, Clock::now()); }

bool contains(const std::string& text, std::string_view part) { return text.find(part) != std::string::npos; }

// what() is the one line a user reads in a report; the server's output is in detail().
bool one_line(const Error& error) { return std::string(error.what()).find('\n') == std::string::npos; }

using ScratchDirectory = inference::test::ScratchDirectory;

// A listening TCP socket on 127.0.0.1 holding a kernel-chosen port for the test's lifetime.
class OccupiedPort {
 public:
  OccupiedPort() : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (::bind(fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 || ::listen(fd_, 1) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      ::close(fd_);
      throw std::runtime_error(std::string("cannot occupy a port: ") + std::strerror(errno));
    }
    port_ = ntohs(address.sin_port);
  }
  ~OccupiedPort() { ::close(fd_); }
  OccupiedPort(const OccupiedPort&) = delete;
  OccupiedPort& operator=(const OccupiedPort&) = delete;
  uint16_t port() const { return port_; }

 private:
  int fd_;
  uint16_t port_ = 0;
};

// /proc/<pid>/stat's state letter ('T' once a SIGSTOP has taken effect), or '?' when gone.
char process_state(pid_t pid) {
  std::string stat;
  try {  // a process that vanished meanwhile makes libstdc++'s filebuf throw (ESRCH)
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    stat.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::ios_base::failure&) {
    return '?';
  }
  const auto close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() ? '?' : stat[close + 2];
}

asio::awaitable<void> pause(std::chrono::milliseconds duration) {
  asio::steady_timer timer(co_await asio::this_coro::executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

// Waits until the model serves from a server other than `old_pid`.
asio::awaitable<bool> wait_restarted(const LlamaServerModel& model, int old_pid) {
  co_return co_await wait_until([&] {
    const int now = model.server_pid();
    return now != 0 && now != old_pid;
  });
}

// A short request that must complete with all its tokens.
asio::awaitable<std::size_t> short_request_tokens(LlamaServerModel& model) {
  TokenStream stream = model.generate("After the fault", greedy(kShortGeneration));
  std::vector<Token> tokens = co_await drain(stream);
  co_return tokens.size();
}

TEST(LlamaCppFaultTest, KillDuringLoadFailsTheLoadWithServerStartFailedNamingSignal9AndLeavesNoChild) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  std::atomic<bool> load_finished{false};
  std::optional<pid_t> killed;
  bool killed_while_loading = false;
  Clock::time_point killed_at;
  // The engine does not say when it has spawned the server: find it from the outside.
  std::thread killer([&] {
    killed = wait_for_llama_server_child(kConditionDeadline);
    if (!killed) return;
    killed_while_loading = !load_finished.load();
    killed_at = Clock::now();
    ::kill(*killed, SIGKILL);
  });
  std::optional<Error> failure;
  Clock::time_point failed_at;
  run_test([&]() -> asio::awaitable<void> {
    try {
      auto model = co_await load_tiny(tiny_options());
      load_finished.store(true);
      co_await model->close();
    } catch (const Error& e) {
      load_finished.store(true);
      failed_at = Clock::now();
      failure = e;
    }
  });
  killer.join();
  ASSERT_TRUE(killed.has_value()) << "no llama-server child appeared while loading";
  ASSERT_TRUE(killed_while_loading) << "the load finished before the server could be killed";
  ASSERT_TRUE(failure.has_value()) << "the load succeeded although its server was killed";
  std::printf("[ MEASURE  ] kill -9 during load -> load failed: %.1f ms\n", ms_between(killed_at, failed_at));
  EXPECT_TRUE(failure->is(errc::child_start_failed)) << failure->what();
  EXPECT_TRUE(contains(failure->what(), "killed by signal 9")) << failure->what();
  EXPECT_TRUE(contains(failure->what(), "before it was ready")) << failure->what();
  EXPECT_FALSE(process_exists(*killed));
  EXPECT_TRUE(no_child_process_left());
}

TEST(LlamaCppFaultTest, KillDuringPrefillFailsTheStreamWithServerExitedBeforeAnyTokenAndTheNextRequestWorks) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    LoadOptions options = tiny_options(1, kLongContextPerSlot);
    options.backend_options["server_args"] += "\n-b\n" + std::string(kPrefillBatch);
    auto model = co_await load_tiny(options);
    const int pid = model->server_pid();
    const ServerEndpoint endpoint = endpoint_of(*model);
    std::string prompt;
    for (int i = 0; i < kPrefillWords; ++i) prompt += " word";
    TokenStream stream = model->generate(prompt, greedy(kShortGeneration));

    // The server answers /slots between prompt chunks: processing means the prompt is in.
    bool prefilling = false;
    const auto deadline = Clock::now() + kConditionDeadline;
    while (!prefilling && Clock::now() < deadline) {
      const int busy = co_await slots_processing(endpoint);
      prefilling = busy > 0;
      if (!prefilling) co_await pause(kSlotsPollInterval);
    }
    EXPECT_TRUE(prefilling) << "the slot never started processing the prompt";
    const auto killed_at = Clock::now();
    EXPECT_EQ(::kill(pid, SIGKILL), 0);

    std::vector<Token> tokens;
    std::optional<Error> error;
    try {
      tokens = co_await drain(stream);
    } catch (const Error& e) {
      error = e;
    }
    std::printf("[ MEASURE  ] kill -9 during prefill -> stream failed: %.1f ms\n", ms_since(killed_at));
    EXPECT_TRUE(tokens.empty()) << tokens.size() << " tokens arrived: the kill came after the prefill";
    EXPECT_TRUE(error && error->is(errc::child_exited)) << (error ? error->what() : "no error");
    if (error) {
      EXPECT_TRUE(contains(error->what(), "signal 9")) << error->what();
    }

    const bool restarted = co_await wait_restarted(*model, pid);
    EXPECT_TRUE(restarted);
    EXPECT_FALSE(process_exists(pid));
    const std::size_t after = co_await short_request_tokens(*model);
    EXPECT_EQ(after, static_cast<std::size_t>(kShortGeneration));
    EXPECT_EQ(model->stats().restarts, 1U);
    co_await model->close();
  });
  EXPECT_TRUE(no_child_process_left());
}

TEST(LlamaCppFaultTest, KillWhileIdleIsNoticedTheServerRestartsAndTheNextRequestSucceeds) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    const int pid = model->server_pid();
    EXPECT_EQ(model->stats().restarts, 0U);
    const auto killed_at = Clock::now();
    EXPECT_EQ(::kill(pid, SIGKILL), 0);
    const bool restarted =
        co_await wait_until([&] { return model->stats().restarts == 1 && model->server_pid() != 0; });
    EXPECT_TRUE(restarted);
    std::printf("[ MEASURE  ] kill -9 while idle -> new server serving: %.1f ms (includes the %lld ms backoff)\n",
                ms_since(killed_at),
                static_cast<long long>(llama_server::engine_option::kDefaultRestartBackoff.count()));
    EXPECT_NE(model->server_pid(), pid);
    EXPECT_FALSE(process_exists(pid)) << "the killed server is still in /proc (a zombie?)";
    const std::size_t after = co_await short_request_tokens(*model);
    EXPECT_EQ(after, static_cast<std::size_t>(kShortGeneration));
    EXPECT_EQ(llama_server_children().size(), 1U);
    co_await model->close();
  });
  EXPECT_TRUE(no_child_process_left());
}

TEST(LlamaCppFaultTest, StoppedLongerThanTheStallTimeoutFailsWithServerHungAndSigcontFindsNoSecondServer) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    LoadOptions options = tiny_options(1, kLongContextPerSlot);
    options.backend_options["ignore_eos"] = "1";
    options.backend_options["stall_timeout_ms"] = std::string(kShortStallTimeoutMs);
    auto model = co_await load_tiny(options);
    const int pid = model->server_pid();
    TokenStream stream = model->generate("Running", greedy(kUntilContextFull));
    std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first.has_value());
    const auto stopped_at = Clock::now();
    EXPECT_EQ(::kill(pid, SIGSTOP), 0);
    std::optional<Error> error = co_await drain_error(stream);
    std::printf("[ MEASURE  ] SIGSTOP mid-stream -> child_hung: %.1f ms (stall timeout %s ms)\n", ms_since(stopped_at),
                std::string(kShortStallTimeoutMs).c_str());
    EXPECT_TRUE(error && error->is(errc::child_hung)) << (error ? error->what() : "no error");

    // The stopped server was killed and reaped: continuing it finds nothing.
    EXPECT_FALSE(process_exists(pid));
    errno = 0;
    EXPECT_EQ(::kill(pid, SIGCONT), -1);
    EXPECT_EQ(errno, ESRCH);
    const bool restarted = co_await wait_restarted(*model, pid);
    EXPECT_TRUE(restarted);
    const auto servers = llama_server_children();
    EXPECT_EQ(servers.size(), 1U) << "more than one llama-server after the restart";
    if (!servers.empty()) {
      EXPECT_EQ(servers.front().pid, model->server_pid());
    }
    const std::size_t after = co_await short_request_tokens(*model);
    EXPECT_EQ(after, static_cast<std::size_t>(kShortGeneration));
    co_await model->close();
  });
  EXPECT_TRUE(no_child_process_left());
}

TEST(LlamaCppFaultTest, StoppedShorterThanTheStallTimeoutThenContinuedCompletesTheStreamWithAllItsTokens) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    LoadOptions options = tiny_options(1, kLongContextPerSlot);
    options.backend_options["ignore_eos"] = "1";
    options.backend_options["stall_timeout_ms"] = std::string(kLongStallTimeoutMs);
    auto model = co_await load_tiny(options);
    const int pid = model->server_pid();
    const auto started = Clock::now();
    TokenStream stream = model->generate("Running", greedy(kBriefStopGeneration));
    std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first.has_value());
    EXPECT_EQ(::kill(pid, SIGSTOP), 0);
    const bool stopped = co_await wait_until([&] { return process_state(pid) == 'T'; });
    EXPECT_TRUE(stopped) << "SIGSTOP did not take effect";
    co_await pause(kBriefStop);  // the fault itself: how long the server stays stopped
    EXPECT_EQ(::kill(pid, SIGCONT), 0);
    std::optional<Error> error;
    std::vector<Token> rest;
    try {
      rest = co_await drain(stream);
    } catch (const Error& e) {
      error = e;
    }
    std::printf("[ MEASURE  ] %d-token stream with a %lld ms SIGSTOP: %.1f ms\n", kBriefStopGeneration,
                static_cast<long long>(kBriefStop.count()), ms_since(started));
    EXPECT_FALSE(error.has_value()) << error->what();
    EXPECT_EQ(rest.size() + 1, static_cast<std::size_t>(kBriefStopGeneration));
    EXPECT_EQ(stream.result().finish_reason, FinishReason::length);
    EXPECT_EQ(model->server_pid(), pid);
    EXPECT_EQ(model->stats().restarts, 0U);
    co_await model->close();
  });
  EXPECT_TRUE(no_child_process_left());
}

TEST(LlamaCppFaultTest, RequestToAnIdleStoppedServerFailsWithServerHungAfterTheStallTimeoutNotNever) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    LoadOptions options = tiny_options(kTestSlots, kShortContextPerSlot);
    options.backend_options["stall_timeout_ms"] = std::string(kShortStallTimeoutMs);
    auto model = co_await load_tiny(options);
    const int pid = model->server_pid();
    EXPECT_EQ(::kill(pid, SIGSTOP), 0);
    const bool stopped = co_await wait_until([&] { return process_state(pid) == 'T'; });
    EXPECT_TRUE(stopped) << "SIGSTOP did not take effect";
    const auto asked_at = Clock::now();
    TokenStream stream = model->generate("Anyone there?", greedy(kShortGeneration));
    std::optional<Error> error = co_await drain_error(stream);
    std::printf("[ MEASURE  ] request to a stopped idle server -> child_hung: %.1f ms (stall timeout %s ms)\n",
                ms_since(asked_at), std::string(kShortStallTimeoutMs).c_str());
    EXPECT_TRUE(error && error->is(errc::child_hung)) << (error ? error->what() : "no error");
    EXPECT_FALSE(process_exists(pid));
    const bool restarted = co_await wait_restarted(*model, pid);
    EXPECT_TRUE(restarted);
    const std::size_t after = co_await short_request_tokens(*model);
    EXPECT_EQ(after, static_cast<std::size_t>(kShortGeneration));
    co_await model->close();
  });
  EXPECT_TRUE(no_child_process_left());
}

// A copy of the test model that claims one more block than it has tensors for: its metadata is
// valid (our GGUF reader accepts it, every tensor lies inside the file), the server's loader
// misses the extra block's tensors.
fs::path write_model_with_missing_tensors(const fs::path& directory) {
  std::ifstream in(test_model_path(), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  constexpr std::string_view kKey = "llama.block_count";
  constexpr uint32_t kGgufUint32 = 4;
  const auto at = bytes.find(kKey);
  if (at == std::string::npos) throw std::runtime_error("the test model has no llama.block_count");
  const std::size_t type_at = at + kKey.size();
  uint32_t type = 0;
  uint32_t blocks = 0;
  std::memcpy(&type, bytes.data() + type_at, sizeof(type));
  if (type != kGgufUint32) throw std::runtime_error("llama.block_count is not a uint32");
  std::memcpy(&blocks, bytes.data() + type_at + sizeof(type), sizeof(blocks));
  ++blocks;
  std::memcpy(bytes.data() + type_at + sizeof(type), &blocks, sizeof(blocks));
  const fs::path model = directory / "missing-tensors.gguf";
  std::ofstream(model, std::ios::binary) << bytes;
  return model;
}

TEST(LlamaCppFaultTest, ModelWithValidMetadataButMissingTensorsGivesServerStartFailedWithTheServersWords) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ScratchDirectory scratch;
  const fs::path model = write_model_with_missing_tensors(scratch.path());
  const auto started = Clock::now();
  const auto error = load_error(model.string(), tiny_options(1, kShortContextPerSlot));
  std::printf("[ MEASURE  ] model the server cannot load -> load failed: %.1f ms\n", ms_since(started));
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::child_start_failed)) << error->what();
  EXPECT_TRUE(contains(error->what(), "exited with status 1 before it was ready")) << error->what();
  // The server's root cause in the one line ("... tensor 'blk.1.attn_norm.weight' not found"),
  // its last words in the detail.
  EXPECT_TRUE(one_line(*error)) << error->what();
  EXPECT_TRUE(contains(error->what(), "exited with status 1 before it was ready: llama_model_load: error"))
      << error->what();
  EXPECT_TRUE(contains(error->what(), "not found")) << error->what();
  EXPECT_TRUE(contains(error->detail(), "exiting due to model loading error")) << error->detail();
  EXPECT_TRUE(no_child_process_left());
}

TEST(LlamaCppFaultTest, ContextTooLargeForTheMachineGivesServerStartFailedWithTheAllocationFailure) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  // The real server, on a machine with little memory: the wrapper only lowers the address-space
  // limit before exec'ing it.
  ScratchDirectory scratch;
  const fs::path wrapper = scratch.path() / "llama-server";
  std::ofstream(wrapper) << "#!/bin/sh\nulimit -v " << kSmallMachineAddressSpaceKiB << "\nexec '"
                         << test_server_binary().string() << "' \"$@\"\n";
  fs::permissions(wrapper, fs::perms::owner_all);
  LoadOptions options = tiny_options(1, kAbsurdContext);
  options.backend_options["server_path"] = wrapper.string();
  // The engine's host-memory fit check would refuse this context before the spawn
  // (LlamaCppFailureTest.ContextBeyondTheAvailableHostMemoryIsRefusedBeforeTheServerRuns); a limit
  // it cannot see (ulimit, a cgroup) is what this test is about, so the check is told the host is huge.
  options.backend_options["host_memory_mib"] = std::to_string(llama_server::engine_option::kMaxHostMemoryMib);
  const auto started = Clock::now();
  const auto error = load_error(test_model_path().string(), options);
  std::printf("[ MEASURE  ] context of %u tokens -> load failed: %.1f ms\n", kAbsurdContext, ms_since(started));
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::child_start_failed)) << error->what();
  EXPECT_TRUE(contains(error->what(), "exited with status 1 before it was ready")) << error->what();
  EXPECT_TRUE(one_line(*error)) << error->what();
  EXPECT_TRUE(contains(error->what(), "failed to initialize the context")) << error->what();
  EXPECT_TRUE(contains(error->detail(), "failed to create context")) << error->detail();
  EXPECT_TRUE(no_child_process_left());
}

TEST(LlamaCppFaultTest, ConfiguredPortThatIsTakenFailsWithServerStartFailedNamingThePort) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  OccupiedPort taken;
  LoadOptions options = tiny_options(1, kShortContextPerSlot);
  options.backend_options["port"] = std::to_string(taken.port());
  const auto started = Clock::now();
  const auto error = load_error(test_model_path().string(), options);
  std::printf("[ MEASURE  ] configured port taken -> load failed: %.1f ms\n", ms_since(started));
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::child_start_failed)) << error->what();
  EXPECT_TRUE(one_line(*error)) << error->what();
  EXPECT_TRUE(contains(error->what(), "port " + std::to_string(taken.port()) + " on 127.0.0.1 is already in use"))
      << error->what();
  EXPECT_TRUE(contains(error->what(), "couldn't bind")) << error->what();  // the server's own words
  EXPECT_FALSE(error->detail().empty()) << "the server's last lines";
  EXPECT_TRUE(no_child_process_left());
}

TEST(LlamaCppFaultTest, ConfiguredFreePortIsTheOneTheServerListensOn) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  uint16_t port = 0;
  {
    OccupiedPort probe;  // a port the kernel considers free, released for the server
    port = probe.port();
  }
  run_test([port]() -> asio::awaitable<void> {
    LoadOptions options = tiny_options(1, kShortContextPerSlot);
    options.backend_options["port"] = std::to_string(port);
    auto model = co_await load_tiny(options);
    const ServerEndpoint endpoint = endpoint_of(*model);
    EXPECT_FALSE(endpoint.is_unix_socket());
    if (!endpoint.is_unix_socket()) {
      EXPECT_EQ(endpoint.port(), port);
    }
    const std::size_t tokens = co_await short_request_tokens(*model);
    EXPECT_EQ(tokens, static_cast<std::size_t>(kShortGeneration));
    co_await model->close();
  });
  EXPECT_TRUE(no_child_process_left());
}

TEST(LlamaCppFaultTest, PickedPortTakenBeforeTheServerBindsIsRetriedInvisibly) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  // The launch hook puts a squatter in front of the real server: on the first launch it binds
  // the --port the engine picked, then execs the real server, which fails to bind it.
  ScratchDirectory scratch;
  const fs::path marker = scratch.path() / "squatted";
  llama_server::LaunchCustomizer squat = [&](llama_server::LaunchSpec& spec) {
    spec.environment_set.emplace_back("SQUAT_REAL_SERVER", spec.binary.string());
    spec.environment_set.emplace_back("SQUAT_MARKER", marker.string());
    spec.binary = LLAMA_CPP_TEST_PORT_SQUATTER;
  };
  run_test([&]() -> asio::awaitable<void> {
    LoadOptions options = tiny_options(1, kShortContextPerSlot);
    options.backend_options["transport"] = "tcp";
    std::string path = test_model_path().string();
    auto model = co_await LlamaServerModel::load(path, options, squat);
    std::ifstream squatted(marker);
    int squatted_port = 0;
    squatted >> squatted_port;
    EXPECT_NE(squatted_port, 0) << "the squatter never ran";
    const ServerEndpoint endpoint = endpoint_of(*model);
    EXPECT_FALSE(endpoint.is_unix_socket());
    if (!endpoint.is_unix_socket()) {
      EXPECT_NE(endpoint.port(), squatted_port);
    }
    EXPECT_EQ(model->stats().restarts, 0U);  // a start that lost a port race is not a restart
    const std::size_t tokens = co_await short_request_tokens(*model);
    EXPECT_EQ(tokens, static_cast<std::size_t>(kShortGeneration));
    co_await model->close();
  });
  EXPECT_TRUE(no_child_process_left());
}

}  // namespace
}  // namespace inference::llama_cpp::test
