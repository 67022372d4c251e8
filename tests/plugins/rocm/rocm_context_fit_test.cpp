// Issue 16, "defaults that fit", on the ROCm backend: the seed's scenario, a Llama-3.1-8B-shaped
// Q4_K model with a 131072-token training context (written with the GGUF writer as a sparse
// file of zeros) on a fake copy of the field report's 16 GB RX 7800 XT. Without context_len the
// largest context that fits is chosen and reported; an explicit context that does not fit is
// refused as before. Nothing is started: plan_launch() and preflight() only read files.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <string>

#include "fake_servers.hpp"
#include "fake_sysfs.hpp"
#include "inference/error.hpp"
#include "inference/gguf/model_info_reader.hpp"
#include "launch_plan.hpp"
#include "rocm_backend.hpp"
#include "support/seed_8b_model.hpp"

namespace inference::rocm {
namespace {

using test::FakeSysfs;
using test::kMiB;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::uint32_t kSlots = 4;

// The 9950X + RX 7800 XT machine (GPU 0 is the 7800 XT: 16368 MiB, 295 MiB used), a server stand-in
// that is never run, and the seed's model.
class SeedScenario : public ::testing::Test {
 protected:
  SeedScenario() {
    test::make_9950x_with_7800xt(sysfs_);
    // Answers the device probe as a HIP build with one GPU would; never asked to serve.
    server_ = test::write_hip_stand_in(sysfs_);
    model_path_ = sysfs_.root() / "llama-3.1-8b-q4_k.gguf";
    inference::test::write_seed_8b_model(model_path_);
    model_ = gguf::read_model_info(model_path_.string());
  }
  ~SeedScenario() override { std::filesystem::remove(model_path_); }

  LoadOptions options(std::uint32_t context_len) const {
    LoadOptions load;
    load.parallel_slots = kSlots;
    load.context_len = context_len;
    load.backend_options = {{"sysfs_root", sysfs_.sysfs_root().string()},
                            {"kfd_path", sysfs_.kfd_path().string()},
                            {"dri_dir", sysfs_.dri_dir().string()},
                            {"server_path", server_.string()}};
    return load;
  }

  static llama_server::EnvLookup no_env() {
    return [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
  }

  // The 7800 XT's free VRAM, as the fake tree states it.
  static std::uint64_t free_vram() {
    const test::FakeGpu gpu = test::rx7800xt(128);
    return gpu.vram_total - gpu.vram_used;
  }

  FakeSysfs sysfs_;
  std::filesystem::path server_;
  std::filesystem::path model_path_;
  ModelInfo model_;
};

TEST_F(SeedScenario, TheWrittenModelHasTheSeedsShapeOnAFewKibOfDisk) {
  EXPECT_EQ(model_.tensor_bytes, inference::test::kSeed8bTensorBytes);
  EXPECT_EQ(llama_server::to_mib(model_.tensor_bytes), 3885u);
  EXPECT_EQ(model_.context_length, inference::test::kSeed8bTrainingContext);
  EXPECT_EQ(llama_server::kv_cache_bytes(model_, 1), inference::test::kSeed8bKvBytesPerToken);
  EXPECT_GT(std::filesystem::file_size(model_path_), model_.tensor_bytes);
  struct stat status {};
  ASSERT_EQ(::stat(model_path_.c_str(), &status), 0);
  EXPECT_LT(static_cast<std::uint64_t>(status.st_blocks) * 512, kMiB) << "the zeros are holes, not disk blocks";
}

TEST_F(SeedScenario, UnsetContextGetsTheLargestThatFitsTheCard) {
  // (free - weights - headroom) / (KV per token × slots), in whole steps: 22784 tokens per slot.
  const std::uint64_t kv_room = free_vram() - inference::test::kSeed8bTensorBytes - llama_server::kFitHeadroomBytes;
  const std::uint64_t expected = kv_room / (inference::test::kSeed8bKvBytesPerToken * kSlots) /
                                 llama_server::kChosenContextStep * llama_server::kChosenContextStep;
  ASSERT_EQ(expected, 22784u);
  const LaunchPlan plan = plan_launch(model_, options(0), no_env());
  EXPECT_EQ(plan.context_per_slot, expected);
  EXPECT_EQ(plan.gpu_layers, -1) << "every layer stays on the GPU";
  EXPECT_TRUE(plan.fit.fits());
  EXPECT_EQ(plan.fit.total_context, expected * kSlots);
  EXPECT_THAT(plan.context_reason, StartsWith("22784 tokens per slot (4 slots): the most that fits GPU 0 (gfx1100) ("));
  EXPECT_THAT(plan.context_reason, HasSubstr("16073 MiB free); the model was trained for 131072"));

  ModelInfo info = model_;
  describe_serving({plan}, info);
  EXPECT_EQ(info.serving_context_per_slot, expected);
  EXPECT_EQ(info.serving_context_reason, plan.context_reason);
  EXPECT_EQ(info.serving_device, "GPU 0 (gfx1100)");
}

TEST_F(SeedScenario, PreflightReportsTheChosenContext) {
  const Availability verdict = RocmBackend(no_env()).preflight(model_path_.string(), options(0));
  EXPECT_TRUE(verdict.available) << verdict.reason;
  EXPECT_THAT(verdict.reason, HasSubstr("GPU 0 (gfx1100): "));
  EXPECT_THAT(verdict.reason, HasSubstr("; context 22784 tokens per slot (4 slots): the most that fits GPU 0"));
}

TEST_F(SeedScenario, ExplicitContextThatDoesNotFitIsRefusedAsBefore) {
  // 32768 per slot × 4 slots: the 131072 tokens llama-server's -c 0 asked for before.
  const std::string message = [&] {
    try {
      plan_launch(model_, options(32768), no_env());
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument));
      return std::string(e.what());
    }
    return std::string("no error");
  }();
  EXPECT_THAT(message, HasSubstr("needs 21037 MiB for all 32 layers (weights 3885 MiB + KV cache 16384 MiB for "
                                 "131072 tokens + headroom 768 MiB) but GPU 0 (gfx1100, discrete"));
  EXPECT_THAT(message, HasSubstr("16073 MiB free"));
  const Availability verdict = RocmBackend(no_env()).preflight(model_path_.string(), options(32768));
  EXPECT_FALSE(verdict.available);
  EXPECT_THAT(verdict.reason, HasSubstr("needs 21037 MiB"));
}

TEST_F(SeedScenario, ExplicitContextThatFitsIsKeptAndReportedAsAsked) {
  for (const auto& [context, mib] : {std::pair<std::uint32_t, std::uint64_t>{4096, 6701}, {8192, 8749}}) {
    const LaunchPlan plan = plan_launch(model_, options(context), no_env());
    EXPECT_EQ(plan.context_per_slot, context);
    EXPECT_EQ(llama_server::to_mib(plan.fit.required_bytes), mib);
    EXPECT_EQ(plan.context_reason, "asked (context_len=" + std::to_string(context) + ")");
  }
}

TEST_F(SeedScenario, ASmallerCardBelowTheFloorIsRefusedUnlessAutoOffloadTakesFewerLayers) {
  // 5000 MiB free: 2048 tokens per slot need 5677 MiB with every layer.
  test::FakeGpu small = test::rx7800xt(130);
  small.vram_total = 5000 * kMiB;
  small.vram_used = 0;
  FakeSysfs tree;
  tree.add_cpu_node(0);
  tree.add_gpu_node(1, small);
  tree.create_kfd();
  LoadOptions load = options(0);
  load.backend_options["sysfs_root"] = tree.sysfs_root().string();
  load.backend_options["kfd_path"] = tree.kfd_path().string();
  try {
    plan_launch(model_, load, no_env());
    ADD_FAILURE() << "a context below the floor was chosen";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("needs 5677 MiB for all 32 layers"));
    EXPECT_THAT(e.what(), HasSubstr("at the smallest context chosen unasked (2048 tokens per slot × 4 slots)"));
    EXPECT_THAT(e.what(), HasSubstr("auto_offload=1"));
  }
  load.backend_options["auto_offload"] = "1";
  const LaunchPlan plan = plan_launch(model_, load, no_env());
  EXPECT_EQ(plan.context_per_slot, llama_server::kMinChosenContextPerSlot);
  EXPECT_GT(plan.gpu_layers, 0);
  EXPECT_LT(plan.gpu_layers, 32);
  EXPECT_TRUE(plan.fit.fits());
  EXPECT_FALSE(llama_server::estimate_fit(model_, 2048 * kSlots, plan.gpu_layers + 1, 5000 * kMiB).fits());
  EXPECT_THAT(plan.context_reason, HasSubstr("the smallest context chosen unasked, with the " +
                                             std::to_string(plan.gpu_layers) + " of 32 layers that fit"));
  ModelInfo info = model_;
  describe_serving({plan}, info);
  EXPECT_EQ(info.serving_device, "GPU 0 (gfx1100) with " + std::to_string(plan.gpu_layers) + " of 32 layers");
}

TEST_F(SeedScenario, ReplicasShareTheSmallestContextChosenOnTheirGpus) {
  // A second 7800 XT with 4 GiB more in use: it limits the context of both replicas.
  FakeSysfs tree;
  tree.add_cpu_node(0);
  tree.add_gpu_node(1, test::rx7800xt(128));
  test::FakeGpu busier = test::rx7800xt(129);
  busier.vram_used += 4096 * kMiB;
  tree.add_gpu_node(2, busier);
  tree.create_kfd();
  LoadOptions load = options(0);
  load.backend_options["sysfs_root"] = tree.sysfs_root().string();
  load.backend_options["kfd_path"] = tree.kfd_path().string();
  load.backend_options["devices"] = "0,1";
  const std::vector<LaunchPlan> plans = plan_replica_launches(model_, load, no_env());
  ASSERT_EQ(plans.size(), 2u);
  const LaunchPlan alone = [&] {
    LoadOptions one = load;
    one.backend_options.erase("devices");
    one.device = 1;
    return plan_launch(model_, one, no_env());
  }();
  EXPECT_LT(alone.context_per_slot, 22784u);
  for (const LaunchPlan& plan : plans) {
    EXPECT_EQ(plan.context_per_slot, alone.context_per_slot);
    EXPECT_EQ(plan.context_reason, alone.context_reason);
    EXPECT_TRUE(plan.fit.fits());
  }
  ModelInfo info = model_;
  describe_serving(plans, info);
  EXPECT_EQ(info.serving_device, "GPU 0 (gfx1100), GPU 1 (gfx1100)");
}

}  // namespace
}  // namespace inference::rocm
