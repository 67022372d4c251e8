// The vulkan backend on lavapipe (Mesa's Vulkan on the CPU: a real Vulkan device, real device
// enumeration and memory figures, real layer offload) with the tiny model: every layer on
// Vulkan0 gives the CPU build's greedy token ids, the server runs pinned to the device, 16
// streams share 4 slots, and a context that does not fit the device's memory (capped with
// memory_limit_mib) is refused before anything starts. Skipped, saying why, without the Vulkan
// build. Generations are short: lavapipe is slow.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <mutex>

#include "inference/error.hpp"
#include "inference/gguf/model_info_reader.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "inference/llama_server/memory_fit.hpp"
#include "lavapipe.hpp"
#include "support/child_processes.hpp"
#include "support/greedy_config.hpp"
#include "support/run_async.hpp"
#include "support/test_inputs.hpp"
#include "vulkan_backend.hpp"

namespace inference::vulkan {
namespace {

namespace asio = boost::asio;
using inference::test::greedy;
using test::lavapipe_options;

constexpr std::uint32_t kSlots = 4;
constexpr std::uint32_t kContextPerSlot = 512;
constexpr std::int32_t kShortGeneration = 6;
constexpr std::size_t kStreams = 16;
// A cold Mesa shader cache makes lavapipe's first load take ~15 s on a busy machine.
constexpr std::chrono::seconds kTestBudget{240};

void run_test(std::function<asio::awaitable<void>()> make) {
  inference::testing::run_bounded(std::move(make), 2, kTestBudget);
}

asio::awaitable<std::vector<std::int32_t>> token_ids(TextModel& model, const std::string& prompt) {
  TokenStream stream = model.generate(prompt, greedy(kShortGeneration));
  std::vector<std::int32_t> ids;
  while (auto token = co_await stream.next()) ids.push_back(token->id);
  co_return ids;
}

const std::vector<std::string> kPrompts = {"Once upon a time", "The capital of France is"};

// Greedy ids for kPrompts from a model loaded by `load`.
std::vector<std::vector<std::int32_t>> greedy_ids(std::function<asio::awaitable<std::shared_ptr<TextModel>>()> load,
                                                  ModelInfo* info = nullptr) {
  std::vector<std::vector<std::int32_t>> ids;
  run_test([&]() -> asio::awaitable<void> {
    std::shared_ptr<TextModel> model = co_await load();
    for (const std::string& prompt : kPrompts) ids.push_back(co_await token_ids(*model, prompt));
    if (info) *info = model->info();
    co_await model->close();
  });
  return ids;
}

TEST(VulkanEndToEndTest, AllLayersOnLavapipeGiveTheCpuBuildsGreedyTokenIdsAndTheModelSaysWhereItRuns) {
  SKIP_WITHOUT_LAVAPIPE();
  VulkanBackend backend;
  ModelInfo info;
  const auto on_vulkan = greedy_ids(
      [&]() {
        return backend.load_model(inference::test::tiny_model_for_tests().string(), lavapipe_options(kSlots, 0));
      },
      &info);
  const auto on_cpu = greedy_ids([&]() -> asio::awaitable<std::shared_ptr<TextModel>> {
    LoadOptions options;
    options.parallel_slots = kSlots;
    options.context_len = static_cast<std::uint32_t>(info.serving_context_per_slot);
    options.backend_options["server_path"] = inference::test::llama_server_for_tests().string();
    options.backend_options["server_args"] = "-t\n1";
    co_return co_await llama_server::LlamaServerModel::load(inference::test::tiny_model_for_tests().string(),
                                                            std::move(options));
  });
  ASSERT_EQ(on_vulkan.size(), kPrompts.size());
  EXPECT_EQ(on_vulkan[0].size(), static_cast<std::size_t>(kShortGeneration));
  EXPECT_EQ(on_vulkan, on_cpu);
  EXPECT_EQ(info.serving_device.rfind("Vulkan0: llvmpipe (", 0), 0U) << info.serving_device;
  // No context_len: the tiny model's whole training context (4096) fits lavapipe's memory.
  EXPECT_EQ(info.serving_context_per_slot, info.context_length);
  EXPECT_NE(info.serving_context_reason.find("the model's whole training context fits Vulkan0: llvmpipe"),
            std::string::npos)
      << info.serving_context_reason;
}

TEST(VulkanEndToEndTest, TheServerIsPinnedToTheDeviceAndItsLayersAreAssignedToVulkan0) {
  SKIP_WITHOUT_LAVAPIPE();
  VulkanBackend backend;
  auto log = std::make_shared<std::vector<std::string>>();
  auto log_mutex = std::make_shared<std::mutex>();
  std::vector<std::string> environment;
  run_test([&]() -> asio::awaitable<void> {
    LoadOptions options = lavapipe_options(1, kContextPerSlot);
    options.child_log = [log, log_mutex](std::string_view line) {
      std::lock_guard lock(*log_mutex);
      log->emplace_back(line);
    };
    std::shared_ptr<TextModel> model =
        co_await backend.load_model(inference::test::tiny_model_for_tests().string(), std::move(options));
    auto server = std::dynamic_pointer_cast<llama_server::LlamaServerModel>(model);
    if (server) environment = test::process_environment(server->server_pid());
    co_await model->close();
  });
  EXPECT_NE(std::find(environment.begin(), environment.end(), "GGML_VK_VISIBLE_DEVICES=0"), environment.end());
  std::lock_guard lock(*log_mutex);
  // ggml's scheduler names the device each layer runs on (llama-server prints no "offloaded"
  // line at the engine's verbosity).
  EXPECT_TRUE(std::any_of(log->begin(), log->end(), [](const std::string& line) {
    return line.find("layer 0 is assigned to device Vulkan0") != std::string::npos;
  })) << "no line of the server's log names Vulkan0 for layer 0";
}

TEST(VulkanEndToEndTest, SixteenStreamsOverFourSlotsAllComplete) {
  SKIP_WITHOUT_LAVAPIPE();
  VulkanBackend backend;
  run_test([&]() -> asio::awaitable<void> {
    std::shared_ptr<TextModel> model = co_await backend.load_model(inference::test::tiny_model_for_tests().string(),
                                                                   lavapipe_options(kSlots, kContextPerSlot));
    std::vector<TokenStream> streams;
    for (std::size_t i = 0; i < kStreams; ++i) {
      streams.push_back(model->generate("Stream " + std::to_string(i), greedy(kShortGeneration)));
    }
    std::size_t complete = 0;
    for (TokenStream& stream : streams) {
      std::size_t tokens = 0;
      while (auto token = co_await stream.next()) ++tokens;
      if (tokens == static_cast<std::size_t>(kShortGeneration)) ++complete;
    }
    EXPECT_EQ(complete, kStreams);
    const ModelStats stats = model->stats();
    EXPECT_EQ(stats.slots_total, kSlots);
    EXPECT_LE(stats.max_in_flight, kSlots);
    co_await model->close();
  });
}

TEST(VulkanEndToEndTest, AContextThatDoesNotFitTheCappedMemoryIsRefusedBeforeAnythingStarts) {
  SKIP_WITHOUT_LAVAPIPE();
  const ModelInfo model = gguf::read_model_info(inference::test::tiny_model_for_tests().string());
  // A cap 1 MiB above what a small context needs; the large one needs several MiB more KV cache.
  constexpr std::uint32_t kSmall = 256;
  constexpr std::uint32_t kLarge = 32768;
  const std::uint64_t small_need = llama_server::estimate_fit(model, kSmall * kSlots, -1, 0).required_bytes;
  const std::uint64_t large_need = llama_server::estimate_fit(model, kLarge * kSlots, -1, 0).required_bytes;
  const std::uint64_t limit_mib = llama_server::to_mib(small_need) + 1;
  ASSERT_GT(large_need, limit_mib * llama_server::kMiB) << "the model's KV cache is too small for this test";
  VulkanBackend backend;
  LoadOptions options = lavapipe_options(kSlots, kSmall);
  options.backend_options["memory_limit_mib"] = std::to_string(limit_mib);
  const Availability small = backend.preflight(inference::test::tiny_model_for_tests().string(), options);
  EXPECT_TRUE(small.available) << small.reason;
  options.context_len = kLarge;
  std::string refusal;
  run_test([&]() -> asio::awaitable<void> {
    try {
      std::shared_ptr<TextModel> loaded =
          co_await backend.load_model(inference::test::tiny_model_for_tests().string(), options);
      co_await loaded->close();
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
      refusal = e.what();
    }
  });
  EXPECT_NE(refusal.find(std::string(inference::test::kTinyModelName) + " needs "), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("for " + std::to_string(kLarge * kSlots) + " tokens"), std::string::npos) << refusal;
  EXPECT_NE(refusal.find("(memory_limit_mib=" + std::to_string(limit_mib) + ") has " + std::to_string(limit_mib) +
                         " MiB free"),
            std::string::npos)
      << refusal;
  EXPECT_TRUE(inference::test::no_child_process_left());
}

}  // namespace
}  // namespace inference::vulkan
