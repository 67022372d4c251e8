// The rocm backend end to end on this CPU machine: a fake sysfs tree and a fake /dev/kfd stand
// in for the AMD GPU, gpu_layers=0 keeps the real (CPU) llama-server off any device; the code
// path (discovery, pinning, the engine) is the one a GPU run takes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <thread>

#include "fake_servers.hpp"
#include "fake_sysfs.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "inference/registry.hpp"
#include "rocm_backend.hpp"
#include "support/child_processes.hpp"
#include "support/greedy_config.hpp"
#include "support/run_async.hpp"
#include "support/test_inputs.hpp"

namespace inference::rocm {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using test::FakeSysfs;

using ::inference::test::kTinyModelName;
constexpr uint32_t kSlots = 4;
constexpr uint32_t kContextPerSlot = 256;
constexpr int kStreams = 16;
constexpr int32_t kTokensPerStream = 8;
// What one test may take before its io_context is abandoned (ctest's TIMEOUT is 300 s).
constexpr std::chrono::seconds kTestBudget{240};

fs::path test_server() { return inference::test::llama_server_for_tests(); }

fs::path test_model() { return inference::test::tiny_model_for_tests(); }

#define SKIP_WITHOUT_LLAMA_SERVER()                                                     \
  do {                                                                                  \
    if (test_server().empty() || ::access(test_server().c_str(), X_OK) != 0) {          \
      GTEST_SKIP() << "no executable llama-server (INFERENCE_TEST_LLAMA_SERVER)";       \
    }                                                                                   \
    if (!fs::is_regular_file(test_model())) GTEST_SKIP() << test_model() << " missing"; \
  } while (false)

LoadOptions cpu_options(const FakeSysfs& sysfs) {
  LoadOptions options;
  options.parallel_slots = kSlots;
  options.context_len = kContextPerSlot;
  options.gpu_layers = 0;
  options.backend_options = {
      {"sysfs_root", sysfs.sysfs_root().string()}, {"kfd_path", sysfs.kfd_path().string()}, {"ignore_eos", "1"}};
  options.backend_options["dri_dir"] = sysfs.dri_dir().string();
  // The CPU server behind a script that answers the device probe as a HIP build.
  options.backend_options["server_path"] = test::write_hip_stand_in(sysfs, test_server()).string();
  options.backend_options["server_args"] = "-t\n1";  // one argument per line
  return options;
}

void run_test(std::function<asio::awaitable<void>()> make) {
  constexpr int kThreads = 2;
  inference::testing::run_bounded(std::move(make), kThreads, kTestBudget);
}

std::vector<std::string> entries_named(const std::vector<std::string>& env, const std::string& name) {
  std::vector<std::string> found;
  for (const auto& entry : env) {
    if (entry.starts_with(name + "=")) found.push_back(entry);
  }
  return found;
}

using ::inference::test::greedy;

asio::awaitable<std::size_t> count_tokens(TokenStream& stream) {
  std::size_t count = 0;
  for (;;) {
    std::optional<Token> token = co_await stream.next();
    if (!token) break;
    ++count;
  }
  co_return count;
}

TEST(RocmEndToEnd, SixteenStreamsOverFourSlotsThroughThePlugin) {
  SKIP_WITHOUT_LLAMA_SERVER();
  FakeSysfs sysfs;
  test::make_9950x_with_7800xt(sysfs);
  Registry registry;
  registry.load_plugin(ROCM_TEST_PLUGIN_FILE);
  std::shared_ptr<Backend> backend = registry.get("rocm");
  run_test([&]() -> asio::awaitable<void> {
    std::string path = test_model().string();
    LoadOptions options = cpu_options(sysfs);
    std::shared_ptr<TextModel> model = co_await backend->load_model(std::move(path), std::move(options));
    EXPECT_EQ(model->model_type(), "llama");  // from the GGUF, not the file name
    std::vector<TokenStream> streams;
    for (int i = 0; i < kStreams; ++i) {
      streams.push_back(model->generate("Stream number " + std::to_string(i), greedy(kTokensPerStream)));
    }
    int completed = 0;
    for (auto& stream : streams) {
      const std::size_t tokens = co_await count_tokens(stream);
      if (tokens == static_cast<std::size_t>(kTokensPerStream)) ++completed;
    }
    EXPECT_EQ(completed, kStreams);
    const ModelStats stats = model->stats();
    EXPECT_EQ(stats.slots_total, kSlots);
    EXPECT_EQ(stats.requests_total, static_cast<uint64_t>(kStreams));
    EXPECT_LE(stats.max_in_flight, kSlots);
    EXPECT_GT(stats.max_in_flight, 1u) << "the streams never ran concurrently";
    co_await model->close();
  });
}

TEST(RocmEndToEnd, ChildSeesExactlyOneHipVisibleDevicesPointingAtTheDiscreteGpu) {
  SKIP_WITHOUT_LLAMA_SERVER();
  FakeSysfs sysfs;
  // The iGPU first, so the discrete card is HIP device 1 and the user's "1,0" must not survive.
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, test::ryzen_9950x_igpu(128));
  sysfs.add_gpu_node(2, test::rx7800xt(129));
  sysfs.create_kfd();
  ::setenv("HIP_VISIBLE_DEVICES", "1,0", 1);
  ::setenv("ROCR_VISIBLE_DEVICES", "0", 1);
  ::setenv("CUDA_VISIBLE_DEVICES", "0", 1);
  ::setenv("HSA_OVERRIDE_GFX_VERSION", "11.0.0", 1);
  RocmBackend backend;
  run_test([&]() -> asio::awaitable<void> {
    std::string path = test_model().string();
    LoadOptions options = cpu_options(sysfs);
    std::shared_ptr<TextModel> model = co_await backend.load_model(std::move(path), std::move(options));
    auto server = std::dynamic_pointer_cast<llama_server::LlamaServerModel>(model);
    EXPECT_NE(server, nullptr);
    if (server) {
      const std::vector<std::string> env = inference::test::process_environment(server->server_pid());
      EXPECT_FALSE(env.empty());
      EXPECT_EQ(entries_named(env, "HIP_VISIBLE_DEVICES"), std::vector<std::string>{"HIP_VISIBLE_DEVICES=1"});
      EXPECT_TRUE(entries_named(env, "ROCR_VISIBLE_DEVICES").empty());
      EXPECT_TRUE(entries_named(env, "CUDA_VISIBLE_DEVICES").empty());
      EXPECT_EQ(entries_named(env, "HSA_OVERRIDE_GFX_VERSION"),
                std::vector<std::string>{"HSA_OVERRIDE_GFX_VERSION=11.0.0"});
    }
    co_await model->close();
  });
}

TEST(RocmEndToEnd, ModelLargerThanTheFakeVramIsRefusedWithTheNumbers) {
  SKIP_WITHOUT_LLAMA_SERVER();
  FakeSysfs sysfs;
  test::FakeGpu small = test::rx7800xt(128);
  small.vram_total = 64 * 1024;  // 64 KiB: less than the tiny model's tensors
  small.vram_used = 0;
  small.gtt_total = 0;
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, small);
  sysfs.create_kfd();
  RocmBackend backend;
  std::string message;
  run_test([&]() -> asio::awaitable<void> {
    std::string path = test_model().string();
    LoadOptions options = cpu_options(sysfs);
    options.gpu_layers = -1;
    try {
      std::shared_ptr<TextModel> model = co_await backend.load_model(std::move(path), std::move(options));
      co_await model->close();
    } catch (const Error& e) {
      message = e.what();
    }
  });
  EXPECT_NE(message.find(std::string(kTinyModelName) + " needs "), std::string::npos) << message;
  EXPECT_NE(message.find("MiB for all"), std::string::npos) << message;
  EXPECT_NE(message.find("has 0 MiB free"), std::string::npos) << message;
}

}  // namespace
}  // namespace inference::rocm
