// One model on two GPUs through the rocm backend (backend option devices=0,1), on this CPU
// machine: a fake sysfs tree with two discrete cards stands in for them and the real (CPU)
// llama-server ignores the HIP_VISIBLE_DEVICES it is pinned with, so the code path (planning,
// one pinned server per GPU, pooling, the device check before a restart) is the one a two-GPU
// run takes. A GPU is "removed" by deleting its nodes from the fake tree, as sysfs does when the
// card goes or amdgpu unbinds it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>

#include "fake_servers.hpp"
#include "fake_sysfs.hpp"
#include "inference/error.hpp"
#include "inference/gguf/tiny_model.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "rocm_backend.hpp"
#include "support/child_processes.hpp"
#include "support/greedy_config.hpp"
#include "support/run_async.hpp"
#include "support/test_inputs.hpp"

namespace inference::rocm {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using ::inference::test::greedy;
using test::FakeSysfs;
using ::testing::HasSubstr;

constexpr uint32_t kGpus = 2;
constexpr uint32_t kSlotsPerReplica = 2;
// Room for a holding stream's prompt and kHoldingTokens.
constexpr uint32_t kContextPerSlot = 1024;
// At some thousand tokens a second per server about a second: a holding stream still runs when
// its server is killed right after its first token, and it ends by itself when left alone.
constexpr int32_t kHoldingTokens = 900;
constexpr int32_t kShortGeneration = 8;
// What one test may take before its io_context is abandoned (ctest's TIMEOUT is 300 s).
constexpr std::chrono::seconds kTestBudget{240};
// Bounds waits for conditions that normally hold within a second.
constexpr std::chrono::seconds kConditionDeadline{30};
constexpr std::chrono::milliseconds kConditionPollInterval{2};

#define SKIP_WITHOUT_LLAMA_SERVER()                                                               \
  do {                                                                                            \
    if (const auto reason = inference::test::llama_server_skip_reason()) GTEST_SKIP() << *reason; \
  } while (false)

// Node 0 the CPU; GPU 0 (node 1, renderD128) and GPU 1 (node 2, renderD129), two RX 7800 XT.
void make_two_gpu_machine(FakeSysfs& sysfs) {
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, test::rx7800xt(128));
  sysfs.add_gpu_node(2, test::rx7800xt(129));
  sysfs.create_kfd();
}

// GPU 1 leaves sysfs: its KFD topology node and its DRM render node go.
void remove_gpu_1(const FakeSysfs& sysfs) {
  fs::remove_all(sysfs.node_properties(2).parent_path());
  fs::remove_all(sysfs.sysfs_root() / "class/drm/renderD129");
}

// devices=0,1 on the CPU: gpu_layers=0 (no fit check), one compute thread per server.
LoadOptions two_gpu_options(const FakeSysfs& sysfs) {
  LoadOptions options;
  options.parallel_slots = kSlotsPerReplica;
  options.context_len = kContextPerSlot;
  options.gpu_layers = 0;
  options.backend_options = {
      {"sysfs_root", sysfs.sysfs_root().string()},
      {"kfd_path", sysfs.kfd_path().string()},
      {"dri_dir", sysfs.dri_dir().string()},
      {"devices", "0,1"},
      {"ignore_eos", "1"},
      {"server_args", "-t\n1"},  // one argument per line
      // The CPU server behind a script answering the device probe as a HIP build.
      {"server_path", test::write_hip_stand_in(sysfs, inference::test::llama_server_for_tests()).string()}};
  return options;
}

void run_test(std::function<asio::awaitable<void>()> make) {
  constexpr int kThreads = 2;
  inference::testing::run_bounded(std::move(make), kThreads, kTestBudget);
}

asio::awaitable<std::shared_ptr<llama_server::LlamaServerModel>> load_on_two_gpus(const FakeSysfs& sysfs) {
  RocmBackend backend;
  std::shared_ptr<TextModel> model =
      co_await backend.load_model(inference::test::tiny_model_for_tests().string(), two_gpu_options(sysfs));
  auto server = std::dynamic_pointer_cast<llama_server::LlamaServerModel>(model);
  if (!server) throw Error(errc::internal_error, "the rocm backend did not return a LlamaServerModel");
  co_return server;
}

// The NAME=value entries of a process's environment that set `name`.
std::vector<std::string> environment_entries(int pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> found;
  std::size_t start = 0;
  while (start < raw.size()) {
    const std::size_t end = raw.find('\0', start);
    const std::string entry = raw.substr(start, end - start);
    if (entry.starts_with(name + "=")) found.push_back(entry);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return found;
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

struct StreamOutcome {
  std::size_t tokens = 0;
  std::optional<Error> error;
  GenerateResult result;  // metrics.replica: where it ran
};

asio::awaitable<StreamOutcome> finish(TokenStream& stream) {
  StreamOutcome outcome;
  try {
    while (co_await stream.next()) ++outcome.tokens;
  } catch (const Error& e) {
    outcome.error = e;
  }
  outcome.result = stream.result();
  co_return outcome;
}

// Streams of kHoldingTokens, returned once each has delivered its first token (counted in the
// outcome later: finish() counts the rest).
asio::awaitable<std::vector<TokenStream>> start_holding_streams(TextModel& model, uint32_t count) {
  std::vector<TokenStream> streams;
  for (uint32_t i = 0; i < count; ++i) {
    streams.push_back(model.generate("Holding " + std::to_string(i), greedy(kHoldingTokens)));
  }
  for (auto& stream : streams) {
    std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first.has_value()) << "a stream ended before its first token";
  }
  co_return streams;
}

TEST(RocmReplicas, DevicesZeroOneStartOneServerPinnedToEachGpu) {
  SKIP_WITHOUT_LLAMA_SERVER();
  FakeSysfs sysfs;
  make_two_gpu_machine(sysfs);
  // The user's own pinning must not reach either server, nor be merged with the backend's.
  ::setenv("HIP_VISIBLE_DEVICES", "1,0", 1);
  ::setenv("ROCR_VISIBLE_DEVICES", "0", 1);
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await load_on_two_gpus(sysfs);
    EXPECT_EQ(model->replica_count(), kGpus);
    const ModelStats stats = model->stats();
    EXPECT_EQ(stats.replicas.size(), kGpus);
    for (uint32_t r = 0; r < kGpus && r < stats.replicas.size(); ++r) {
      const int pid = model->server_pid(r);
      EXPECT_NE(pid, 0) << "replica " << r;
      EXPECT_EQ(stats.replicas[r].process_id, pid) << "replica " << r;
      EXPECT_EQ(stats.replicas[r].state, ReplicaState::serving) << "replica " << r;
      EXPECT_EQ(stats.replicas[r].device, "GPU " + std::to_string(r) + " (gfx1100)");
      EXPECT_EQ(environment_entries(pid, "HIP_VISIBLE_DEVICES"),
                std::vector<std::string>{"HIP_VISIBLE_DEVICES=" + std::to_string(r)})
          << "replica " << r;
      EXPECT_TRUE(environment_entries(pid, "ROCR_VISIBLE_DEVICES").empty()) << "replica " << r;
    }
    EXPECT_NE(model->server_pid(0), model->server_pid(1)) << "two replicas, two servers";
    EXPECT_FALSE(stats.failed);

    std::vector<TokenStream> streams;
    for (uint32_t i = 0; i < kGpus * kSlotsPerReplica; ++i) {
      streams.push_back(model->generate("Stream " + std::to_string(i), greedy(kShortGeneration)));
    }
    for (auto& stream : streams) {
      const StreamOutcome outcome = co_await finish(stream);
      EXPECT_FALSE(outcome.error) << outcome.error->what();
      EXPECT_EQ(outcome.tokens, static_cast<std::size_t>(kShortGeneration));
      EXPECT_TRUE(outcome.result.metrics.replica == 0 || outcome.result.metrics.replica == 1)
          << "replica " << outcome.result.metrics.replica;
    }
    EXPECT_EQ(model->stats().requests_total, kGpus * kSlotsPerReplica);
    co_await model->close();
  });
  EXPECT_TRUE(inference::test::no_child_process_left());
}

// preflight() (`llmctl models --backend rocm`) judges every GPU the load would use, so a model
// that fits GPU 0 but not GPU 1 is not reported as loadable with devices=0,1. Starts nothing.
TEST(RocmReplicas, PreflightJudgesEveryGpuOfTheDevicesOption) {
  FakeSysfs sysfs;
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, test::rx7800xt(128));
  test::FakeGpu full = test::rx7800xt(129);
  full.vram_used = full.vram_total - 100 * test::kMiB;  // less than the fit check's headroom
  sysfs.add_gpu_node(2, full);
  sysfs.create_kfd();
  const fs::path model = sysfs.root() / "tiny.gguf";
  gguf::write_tiny_model(model, 1);
  LoadOptions options;
  options.backend_options = {{"sysfs_root", sysfs.sysfs_root().string()},
                             {"kfd_path", sysfs.kfd_path().string()},
                             {"dri_dir", sysfs.dri_dir().string()},
                             {"server_path", test::write_hip_stand_in(sysfs).string()},
                             {"devices", "0"}};
  const RocmBackend backend;
  const Availability one = backend.preflight(model.string(), options);
  EXPECT_TRUE(one.available) << one.reason;
  EXPECT_THAT(one.reason, HasSubstr("GPU 0 (gfx1100): "));
  options.backend_options["devices"] = "0,1";
  const Availability both = backend.preflight(model.string(), options);
  EXPECT_FALSE(both.available) << both.reason;
  EXPECT_THAT(both.reason, HasSubstr("GPU 1 (gfx1100, discrete"));
  EXPECT_THAT(both.reason, HasSubstr("MiB free"));
  options.gpu_layers = 0;  // no fit check: each GPU says so
  const Availability cpu = backend.preflight(model.string(), options);
  EXPECT_TRUE(cpu.available) << cpu.reason;
  EXPECT_THAT(cpu.reason, ::testing::StartsWith("GPU 0 (gfx1100): CPU only (gpu_layers=0); GPU 1 (gfx1100): CPU only "
                                                "(gpu_layers=0); runtime=auto chose HIP: "));
  EXPECT_THAT(cpu.reason, ::testing::EndsWith("; context the model's training context split over the slots "
                                              "(gpu_layers=0: no fit check)"));
}

// The holding streams after replica 1's server was killed: those on replica 1 failed with the
// exit (typed, naming the signal), the others ran to their end on replica 0.
void expect_only_replica_1_streams_failed(const std::vector<StreamOutcome>& outcomes, uint32_t busy_on_1) {
  uint32_t failed = 0;
  for (const StreamOutcome& outcome : outcomes) {
    if (outcome.error) {
      ++failed;
      EXPECT_TRUE(outcome.error->is(errc::child_exited)) << outcome.error->what();
      EXPECT_THAT(outcome.error->what(), HasSubstr("signal 9"));
      EXPECT_EQ(outcome.result.metrics.replica, 1) << "a stream of the healthy replica failed";
    } else {
      EXPECT_EQ(outcome.result.metrics.replica, 0) << "a stream on the killed server did not fail";
      EXPECT_EQ(outcome.tokens + 1, static_cast<std::size_t>(kHoldingTokens));  // + the first one
    }
  }
  EXPECT_EQ(failed, busy_on_1);
}

// Replica 1 once its GPU is gone and its server died: failed for good, naming the GPU, not
// restarted; replica 0 untouched; the model not failed.
void expect_replica_1_lost(const llama_server::LlamaServerModel& model, int replica_0_pid) {
  const ModelStats stats = model.stats();
  ASSERT_EQ(stats.replicas.size(), kGpus);
  const ReplicaStats& lost = stats.replicas[1];
  EXPECT_EQ(lost.state, ReplicaState::failed);
  EXPECT_THAT(lost.reason, HasSubstr("GPU 1 (gfx1100, renderD129) is gone"));
  EXPECT_THAT(lost.reason, HasSubstr("not restarted"));
  EXPECT_EQ(lost.device, "GPU 1 (gfx1100)");
  EXPECT_EQ(lost.restarts, 0U);
  EXPECT_EQ(lost.process_id, 0);
  EXPECT_EQ(model.server_pid(1), 0) << "a server was started again on the lost GPU";
  EXPECT_EQ(stats.restarts, 0U);
  EXPECT_FALSE(stats.failed) << "replica 0 still serves";
  EXPECT_EQ(stats.replicas[0].state, ReplicaState::serving);
  EXPECT_EQ(stats.replicas[0].restarts, 0U);
  EXPECT_EQ(model.server_pid(0), replica_0_pid);
}

TEST(RocmReplicas, ReplicaWhoseGpuLeftSysfsFailsWithDeviceLostAndIsNotRestarted) {
  SKIP_WITHOUT_LLAMA_SERVER();
  FakeSysfs sysfs;
  make_two_gpu_machine(sysfs);
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await load_on_two_gpus(sysfs);
    const int replica_0_pid = model->server_pid(0);
    const int replica_1_pid = model->server_pid(1);
    // Every slot of both replicas holds a stream, so two of them run on replica 1 whichever
    // slots the pool picked.
    std::vector<TokenStream> holding = co_await start_holding_streams(*model, kGpus * kSlotsPerReplica);
    // Only a pool that places over replicas reports per-replica slots; the placeholder SlotPool
    // (one replica's slots, all on replica 0) reports none and leaves replica 1 without streams.
    const ReplicaStats before = model->stats().replicas.at(1);
    if (before.slots_total > 0) {
      EXPECT_EQ(before.slots_busy, kSlotsPerReplica);
    }

    remove_gpu_1(sysfs);
    EXPECT_EQ(::kill(replica_1_pid, SIGKILL), 0);
    std::vector<StreamOutcome> outcomes;
    for (auto& stream : holding) outcomes.push_back(co_await finish(stream));
    expect_only_replica_1_streams_failed(outcomes, before.slots_busy);
    std::printf("[ MEASURE  ] streams on replica 1 when its GPU left: %u (0: the pool placed nothing there)\n",
                before.slots_busy);

    const bool failed =
        co_await wait_until([&] { return model->stats().replicas.at(1).state == ReplicaState::failed; });
    EXPECT_TRUE(failed) << "replica 1 is " << to_string(model->stats().replicas.at(1).state);
    expect_replica_1_lost(*model, replica_0_pid);

    // The model serves on: a new request runs on replica 0. (With the placeholder SlotPool every
    // request goes to replica 0 anyway; with the real one replica 1 is unavailable.)
    TokenStream after = model->generate("After the GPU left", greedy(kShortGeneration));
    const StreamOutcome outcome = co_await finish(after);
    EXPECT_FALSE(outcome.error) << outcome.error->what();
    EXPECT_EQ(outcome.tokens, static_cast<std::size_t>(kShortGeneration));
    EXPECT_EQ(outcome.result.metrics.replica, 0);
    EXPECT_EQ(model->server_pid(1), 0) << "replica 1 came back on a GPU that is gone";
    co_await model->close();
  });
  EXPECT_TRUE(inference::test::no_child_process_left());
}

// Kills replica 1's server after its GPU left the tree and waits until the replica is failed.
asio::awaitable<bool> lose_gpu_1(const FakeSysfs& sysfs, const llama_server::LlamaServerModel& model) {
  remove_gpu_1(sysfs);
  EXPECT_EQ(::kill(model.server_pid(1), SIGKILL), 0);
  co_return co_await wait_until([&] { return model.stats().replicas.at(1).state == ReplicaState::failed; });
}

// reload() plans again from sysfs: while GPU 1 is gone it is refused before anything stops (the
// model keeps serving on replica 0); once the GPU is back, it brings replica 1 back, pinned to it.
TEST(RocmReplicas, ReloadIsRefusedWhileTheGpuIsGoneAndBringsTheReplicaBackWhenItReturns) {
  SKIP_WITHOUT_LLAMA_SERVER();
  FakeSysfs sysfs;
  make_two_gpu_machine(sysfs);
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await load_on_two_gpus(sysfs);
    const int replica_0_pid = model->server_pid(0);
    const bool lost = co_await lose_gpu_1(sysfs, *model);
    EXPECT_TRUE(lost);

    const std::string path = inference::test::tiny_model_for_tests().string();
    std::optional<Error> refused;
    try {
      co_await model->reload(path, two_gpu_options(sysfs));
    } catch (const Error& e) {
      refused = e;
    }
    EXPECT_TRUE(refused && refused->is(errc::invalid_argument)) << (refused ? refused->what() : "reload succeeded");
    if (refused) {
      EXPECT_THAT(refused->what(), HasSubstr("device 1 is not a readable GPU"));
    }
    EXPECT_EQ(model->server_pid(0), replica_0_pid) << "a refused reload stopped replica 0";
    EXPECT_EQ(model->stats().replicas.at(1).state, ReplicaState::failed);

    sysfs.add_gpu_node(2, test::rx7800xt(129));  // the card is back
    co_await model->reload(path, two_gpu_options(sysfs));
    const ModelStats stats = model->stats();
    EXPECT_EQ(stats.replicas.at(1).state, ReplicaState::serving);
    EXPECT_TRUE(stats.replicas.at(1).reason.empty()) << stats.replicas.at(1).reason;
    const int replica_1_pid = model->server_pid(1);
    EXPECT_NE(replica_1_pid, 0);
    EXPECT_EQ(environment_entries(replica_1_pid, "HIP_VISIBLE_DEVICES"),
              std::vector<std::string>{"HIP_VISIBLE_DEVICES=1"});
    EXPECT_FALSE(stats.failed);
    TokenStream after = model->generate("After the GPU came back", greedy(kShortGeneration));
    const StreamOutcome outcome = co_await finish(after);
    EXPECT_FALSE(outcome.error) << outcome.error->what();
    co_await model->close();
  });
  EXPECT_TRUE(inference::test::no_child_process_left());
}

}  // namespace
}  // namespace inference::rocm
