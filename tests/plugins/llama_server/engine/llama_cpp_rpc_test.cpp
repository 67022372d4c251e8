// The rpc engine option against the real binaries: the tiny model split over two ggml-rpc-server
// workers on loopback (started here as child processes, killed and reaped by each test) through
// llama-server-rpc. Greedy token ids equal a single plain llama-server's; a worker killed with
// SIGKILL mid-stream ends the stream with backend_unavailable naming it, and the restarts that
// follow fail naming it instead of spawning llama-server into an abort; a worker that does not
// answer at load is refused naming it; a build without the RPC backend is refused.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/this_coro.hpp>
#include <fstream>
#include <sstream>

#include "inference/gguf/model_info_reader.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "llama_cpp_fixture.hpp"
#include "stream_helpers.hpp"
#include "support/child_processes.hpp"

extern char** environ;

namespace inference::llama_cpp::test {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kSeed = 17;
constexpr int32_t kGreedyTokens = 24;
// Enough that the stream is still running when a worker is killed after its first token.
constexpr int32_t kLongGeneration = 100'000;

// A port nobody listens on right now (bound, then released).
uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

bool accepts_connection(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(port);
  const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

// The worker next to the RPC build (scripts/install-llama-server-gpu rpc installs both).
std::optional<fs::path> worker_binary() {
  const auto rpc_build = llama_server::configured_runtime_server_binary("rpc");
  if (!rpc_build) return std::nullopt;
  fs::path worker = rpc_build->parent_path() / "ggml-rpc-server";
  if (::access(worker.c_str(), X_OK) != 0) return std::nullopt;
  return worker;
}

// One ggml-rpc-server on 127.0.0.1 (one thread), its output in a log file; killed (SIGKILL) and
// reaped on destruction unless kill() did it already.
class RpcWorkerProcess {
 public:
  RpcWorkerProcess(const fs::path& binary, uint16_t port)
      : port_(port), log_(fs::temp_directory_path() / ("rpc-worker-" + std::to_string(port) + ".log")) {
    const std::string port_text = std::to_string(port);
    std::vector<std::string> args = {binary.string(), "-H", "127.0.0.1", "-p", port_text, "-t", "1"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    EXPECT_EQ(posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~RpcWorkerProcess() {
    kill();
    fs::remove(log_);
  }
  RpcWorkerProcess(const RpcWorkerProcess&) = delete;
  RpcWorkerProcess& operator=(const RpcWorkerProcess&) = delete;

  // Listening: the worker prints its banner before it binds, so only a connection tells.
  asio::awaitable<bool> wait_listening() {
    co_return co_await wait_until([this] { return accepts_connection(port_); });
  }
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = 0;
  }
  std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
  uint16_t port() const { return port_; }
  std::string log() const {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

 private:
  uint16_t port_;
  fs::path log_;
  pid_t pid_ = 0;
};

class LlamaCppRpcTest : public ::testing::Test {
 protected:
  void SetUp() override {
    INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
    const auto binary = worker_binary();
    if (!binary) GTEST_SKIP() << "no llama-server-rpc and ggml-rpc-server (scripts/install-llama-server-gpu rpc)";
    for (int i = 0; i < 2; ++i) workers_.push_back(std::make_unique<RpcWorkerProcess>(*binary, free_port()));
  }

  // The tiny model split over the workers: the RPC build (no server_path), every layer offloaded.
  LoadOptions rpc_options(const std::string& rpc) const {
    LoadOptions options = tiny_options(1, 512);
    options.backend_options.erase("server_path");
    options.gpu_layers = -1;
    options.backend_options["rpc"] = rpc;
    options.backend_options["restart_backoff_ms"] = "10";
    return options;
  }
  std::string both() const { return workers_[0]->endpoint() + "," + workers_[1]->endpoint(); }

  asio::awaitable<bool> workers_listening() {
    for (auto& worker : workers_) {
      if (!co_await worker->wait_listening()) co_return false;
    }
    co_return true;
  }

  static GenerateConfig greedy(int32_t tokens) {
    GenerateConfig config;
    config.max_tokens = tokens;
    config.temperature = 0.0F;
    config.seed = kSeed;
    return config;
  }

  std::vector<std::unique_ptr<RpcWorkerProcess>> workers_;
};

std::vector<int32_t> ids_of(const std::vector<Token>& tokens) {
  std::vector<int32_t> ids;
  for (const Token& token : tokens) ids.push_back(token.id);
  return ids;
}

TEST_F(LlamaCppRpcTest, SplitOverTwoWorkersGivesTheSameGreedyTokenIdsAsOnePlainServer) {
  std::vector<int32_t> split;
  std::vector<int32_t> single;
  run_test([&]() -> asio::awaitable<void> {
    if (!co_await workers_listening()) {
      ADD_FAILURE() << "the workers did not listen";
      co_return;
    }
    auto model = co_await load_tiny(rpc_options(both()));
    EXPECT_EQ(model->info().serving_device,
              "RPC: " + workers_[0]->endpoint() + ", " + workers_[1]->endpoint() + " (+ local CPU)");
    TokenStream stream = model->generate("The quick brown fox", greedy(kGreedyTokens));
    split = ids_of(co_await drain(stream));
    co_await model->close();
    LoadOptions plain = tiny_options(1, 512);
    plain.gpu_layers = -1;  // the same -ngl; the CPU-only build keeps the layers local
    auto reference = co_await load_tiny(plain);
    TokenStream again = reference->generate("The quick brown fox", greedy(kGreedyTokens));
    single = ids_of(co_await drain(again));
    co_await reference->close();
  });
  EXPECT_EQ(split.size(), static_cast<std::size_t>(kGreedyTokens));
  EXPECT_EQ(split, single);
  // The layers really went to the workers: llama-server connected to each one.
  for (const auto& worker : workers_) EXPECT_THAT(worker->log(), HasSubstr("Accepted client connection"));
}

TEST_F(LlamaCppRpcTest, AWorkerKilledMidStreamEndsTheStreamWithBackendUnavailableNamingItAndIsNotRestarted) {
  std::optional<Error> ended;
  std::optional<Error> after;
  uint64_t restarts = 1;
  run_test([&]() -> asio::awaitable<void> {
    if (!co_await workers_listening()) {
      ADD_FAILURE() << "the workers did not listen";
      co_return;
    }
    LoadOptions options = rpc_options(both());
    options.backend_options["ignore_eos"] = "1";
    options.context_len = 0;  // the training context: room for a long stream
    auto model = co_await load_tiny(options);
    TokenStream stream = model->generate("Once upon a time", greedy(kLongGeneration));
    const std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first.has_value());
    workers_[1]->kill();
    ended = co_await drain_error(stream);  // bounded by run_test's budget, not by a sleep
    // The restarts that follow find the worker gone and spawn nothing; the budget then fails the
    // model, naming the worker.
    TokenStream next = model->generate("Hello", greedy(4));
    after = co_await drain_error(next);
    restarts = model->stats().restarts;
    EXPECT_TRUE(inference::test::llama_server_children().empty()) << "no llama-server is left or respawned";
    co_await model->close();
  });
  ASSERT_TRUE(ended.has_value()) << "the stream ended normally";
  RecordProperty("stream_error", ended->what());
  EXPECT_TRUE(ended->is(errc::backend_unavailable)) << ended->what();
  EXPECT_THAT(ended->what(), HasSubstr("RPC worker " + workers_[1]->endpoint() + " does not answer"));
  EXPECT_THAT(ended->what(), Not(HasSubstr(workers_[0]->endpoint())));
  EXPECT_THAT(ended->what(), HasSubstr("while generating"));
  ASSERT_TRUE(after.has_value());
  RecordProperty("later_error", after->what());
  EXPECT_TRUE(after->is(errc::model_failed)) << after->what();
  EXPECT_THAT(after->what(), HasSubstr("RPC worker " + workers_[1]->endpoint() + " does not answer"));
  EXPECT_EQ(restarts, 0U) << "no llama-server was started while the worker was down";
}

// The restart budget gives a worker time to come back (llmctl rpc-worker restarts one on the same
// port): a worker restarted while llama-server's restarts are still being tried is picked up, and
// the model serves again. The budget (8 restarts from 100 ms, doubling: 25 s) is the test's room,
// not a threshold: the worker is normally back within a fraction of a second.
TEST_F(LlamaCppRpcTest, AWorkerThatComesBackWithinTheRestartBudgetIsPickedUpAndTheModelServesAgain) {
  std::optional<Error> ended;
  std::vector<int32_t> after;
  run_test([&]() -> asio::awaitable<void> {
    if (!co_await workers_listening()) {
      ADD_FAILURE() << "the workers did not listen";
      co_return;
    }
    LoadOptions options = rpc_options(both());
    options.backend_options["ignore_eos"] = "1";
    options.backend_options["restart_backoff_ms"] = "100";
    options.backend_options["restart_budget"] = "8";
    options.context_len = 0;
    auto model = co_await load_tiny(options);
    TokenStream stream = model->generate("Once upon a time", greedy(kLongGeneration));
    EXPECT_TRUE((co_await stream.next()).has_value());
    const uint16_t port = workers_[1]->port();
    workers_[1]->kill();
    ended = co_await drain_error(stream);
    workers_[1] = std::make_unique<RpcWorkerProcess>(*worker_binary(), port);
    EXPECT_TRUE(co_await workers_[1]->wait_listening());
    TokenStream next = model->generate("Hello", greedy(4));  // waits for the restarted server
    after = ids_of(co_await drain(next));
    EXPECT_GE(model->stats().restarts, 1U);
    co_await model->close();
  });
  ASSERT_TRUE(ended.has_value());
  EXPECT_TRUE(ended->is(errc::backend_unavailable)) << ended->what();
  EXPECT_EQ(after.size(), 4U);
}

TEST_F(LlamaCppRpcTest, AWorkerThatDoesNotAnswerAtLoadIsRefusedNamingItBeforeAnySpawn) {
  run_test([&]() -> asio::awaitable<void> { EXPECT_TRUE(co_await workers_listening()); });
  const std::string absent = "127.0.0.1:" + std::to_string(free_port());
  const std::optional<Error> failure =
      load_error(test_model_path().string(), rpc_options(workers_[0]->endpoint() + "," + absent));
  ASSERT_TRUE(failure.has_value()) << "the load succeeded without the worker";
  RecordProperty("load_error", failure->what());
  EXPECT_TRUE(failure->is(errc::backend_unavailable)) << failure->what();
  EXPECT_THAT(failure->what(), HasSubstr("RPC worker " + absent + " does not answer"));
  EXPECT_THAT(failure->what(), Not(HasSubstr(workers_[0]->endpoint())));
  EXPECT_THAT(failure->what(), HasSubstr("llama-server not started")) << "refused before the spawn";
  EXPECT_TRUE(inference::test::llama_server_children().empty());
}

TEST_F(LlamaCppRpcTest, ABuildWithoutTheRpcBackendIsRefusedNamingIt) {
  run_test([&]() -> asio::awaitable<void> { EXPECT_TRUE(co_await workers_listening()); });
  LoadOptions options = rpc_options(both());
  options.backend_options["server_path"] = test_server_binary().string();  // the CPU-only build
  const std::optional<Error> failure = load_error(test_model_path().string(), options);
  ASSERT_TRUE(failure.has_value());
  EXPECT_TRUE(failure->is(errc::backend_unavailable)) << failure->what();
  EXPECT_THAT(failure->what(), HasSubstr(test_server_binary().string() + " has none"));
  EXPECT_THAT(failure->what(), HasSubstr("RPC not supported in this build"));
}

// A backend with its own plan (rocm, vulkan) that knows nothing of the workers would run the model
// locally and ignore them: the engine refuses the option before anything starts.
TEST(LlamaCppRpcPlanTest, ABackendWhosePlanIgnoresTheWorkersIsRefusedBeforeAnySpawn) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  LoadOptions options = tiny_options(1, 512);
  options.backend_options["rpc"] = "127.0.0.1:50052";
  llama_server::LaunchPlanner local_only = [](const std::string& path, const LoadOptions& asked) {
    llama_server::ModelLaunch launch;
    launch.info = gguf::read_model_info(path);
    launch.options = asked;
    launch.replicas.resize(1);
    return launch;
  };
  std::optional<Error> failure;
  run_test([&]() -> asio::awaitable<void> {
    try {
      auto model = co_await LlamaServerModel::load_planned(test_model_path().string(), options, local_only);
      co_await model->close();
    } catch (const Error& e) {
      failure = e;
    }
  });
  ASSERT_TRUE(failure.has_value()) << "the load ignored the workers";
  EXPECT_TRUE(failure->is(errc::invalid_argument)) << failure->what();
  EXPECT_THAT(failure->what(), HasSubstr("this backend does not split models over RPC workers"));
  EXPECT_TRUE(inference::test::llama_server_children().empty());
}

}  // namespace
}  // namespace inference::llama_cpp::test
