// Rolling reload of a model with two real llama-server replicas: reload() to another model file
// while two clients keep sending requests fails none of them, never has more than one replica
// out of service, and ends with both servers replaced by ones running the new file. A reload
// that would change the number of replicas is refused before anything stops.
#include <gtest/gtest.h>

#include <boost/asio/this_coro.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "concurrent_tasks.hpp"
#include "replica_test_support.hpp"
#include "support/child_processes.hpp"
#include "support/greedy_config.hpp"
#include "support/scratch_directory.hpp"

namespace inference::llama_cpp::test {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using ::inference::test::greedy;
using ::inference::test::no_child_process_left;

constexpr int kClients = 2;
constexpr int32_t kShortGeneration = 8;
// Bounds each client: a request takes milliseconds and a reload of two tiny replicas about a
// second, so the loop ends long before this unless the reload hangs.
constexpr int kMaxRequestsPerClient = 2'000;
// Requests each client still sends once the reload has returned: they must reach the new servers.
constexpr int kRequestsAfterReload = 4;

struct ReloadTraffic {
  bool reloading = false;
  bool reloaded = false;
  int completed = 0;
  int completed_while_reloading = 0;
  int max_replicas_out = 0;
  std::vector<std::string> failures;
};

// One client: short requests back to back until the reload is over (bounded).
asio::awaitable<void> client(TextModel& model, ReloadTraffic& traffic, int id) {
  int after_reload = 0;
  for (int i = 0; i < kMaxRequestsPerClient && after_reload < kRequestsAfterReload; ++i) {
    const bool during = traffic.reloading;
    TokenStream stream =
        model.generate("Client " + std::to_string(id) + " request " + std::to_string(i), greedy(kShortGeneration));
    const StreamOutcome outcome = co_await finish(stream);
    if (outcome.error) {
      traffic.failures.push_back(outcome.error->what());
    } else if (outcome.tokens.size() != static_cast<std::size_t>(kShortGeneration)) {
      traffic.failures.push_back(std::to_string(outcome.tokens.size()) + " tokens");
    }
    ++traffic.completed;
    if (during && traffic.reloading) ++traffic.completed_while_reloading;
    traffic.max_replicas_out = std::max(traffic.max_replicas_out, replicas_out_of_service(model));
    if (traffic.reloaded) ++after_reload;
  }
}

asio::awaitable<void> reload_once(TextModel& model, ReloadTraffic& traffic, std::string path, LoadOptions options) {
  traffic.reloading = true;
  try {
    co_await model.reload(std::move(path), std::move(options));
  } catch (const Error& e) {
    ADD_FAILURE() << "reload() failed: " << e.what();
  }
  traffic.reloading = false;
  traffic.reloaded = true;  // the clients wind down either way
}

std::string command_line(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(LlamaCppReloadTest, RollingReloadUnderSteadyRequestsFailsNoneAndReplacesBothServersWithTheNewFile) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  inference::test::ScratchDirectory scratch("reload-test");
  const fs::path new_file = scratch / "reloaded-tiny.gguf";
  fs::copy_file(test_model_path(), new_file);
  ReloadTraffic traffic;
  run_test([&]() -> asio::awaitable<void> {
    const LoadOptions options = two_replica_options(kReplicaShortContext);
    auto model = co_await load_tiny(options);
    const std::vector<int> before{model->server_pid(0), model->server_pid(1)};
    std::vector<asio::awaitable<void>> tasks;
    for (int id = 0; id < kClients; ++id) tasks.push_back(client(*model, traffic, id));
    tasks.push_back(reload_once(*model, traffic, new_file.string(), options));
    co_await run_concurrently(std::move(tasks));

    for (uint32_t r = 0; r < kTwoReplicas; ++r) {
      const int pid = model->server_pid(r);
      EXPECT_NE(pid, 0);
      EXPECT_NE(pid, before[r]) << "replica " << r << " was not replaced";
      EXPECT_TRUE(wait_process_gone(before[r])) << "the replaced server " << before[r] << " is still there";
      EXPECT_NE(command_line(pid).find(new_file.string()), std::string::npos) << "replica " << r;
      EXPECT_EQ(model->stats().replicas.at(r).state, ReplicaState::serving);
    }
    co_await model->close();
  });
  std::printf("[ MEASURE  ] %d requests, %d of them completed while the reload ran\n", traffic.completed,
              traffic.completed_while_reloading);
  EXPECT_TRUE(traffic.failures.empty()) << traffic.failures.size() << " failed, first: " << traffic.failures.front();
  EXPECT_LE(traffic.max_replicas_out, 1);
  // The clients were served during the reload, or the test proved nothing about it.
  EXPECT_GT(traffic.completed_while_reloading, 0);
  EXPECT_TRUE(no_child_process_left());
}

TEST(LlamaCppReloadTest, ReloadChangingTheNumberOfReplicasIsRefusedNamingItAndTheServersKeepServing) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    const LoadOptions options = two_replica_options(kReplicaShortContext);
    auto model = co_await load_tiny(options);
    const std::vector<int> before{model->server_pid(0), model->server_pid(1)};
    LoadOptions three = options;
    three.backend_options["replicas"] = "3";
    std::optional<Error> refusal;
    try {
      co_await model->reload(test_model_path().string(), three);
    } catch (const Error& e) {
      refusal = e;
    }
    EXPECT_TRUE(refusal && refusal->is(errc::invalid_argument)) << (refusal ? refusal->what() : "no error");
    if (refusal) {
      EXPECT_NE(std::string(refusal->what()).find("replicas"), std::string::npos) << refusal->what();
    }
    EXPECT_EQ(model->replica_count(), kTwoReplicas);
    EXPECT_EQ(model->server_pid(0), before[0]);
    EXPECT_EQ(model->server_pid(1), before[1]);
    TokenStream after = model->generate("After the refused reload", greedy(kShortGeneration));
    const StreamOutcome outcome = co_await finish(after);
    EXPECT_FALSE(outcome.error) << outcome.error->what();
    co_await model->close();
  });
  EXPECT_TRUE(no_child_process_left());
}

}  // namespace
}  // namespace inference::llama_cpp::test
