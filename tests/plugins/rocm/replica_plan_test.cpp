// One model on several GPUs, decided on fake sysfs trees: the devices option, which GPUs
// plan_replica_launches() picks (one plan per replica, each pinned to its GPU) and gpu_gone(),
// which tells a replica's supervisor that its GPU left sysfs.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>

#include "fake_sysfs.hpp"
#include "inference/error.hpp"
#include "launch_plan.hpp"
#include "rocm_options.hpp"

namespace inference::rocm {
namespace {

using test::FakeGpu;
using test::FakeSysfs;
using test::kGiB;
using test::kMiB;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

// A model that fits on every fake discrete GPU below with all its layers.
ModelInfo small_model() {
  ModelInfo model;
  model.path = "/models/small.gguf";
  model.block_count = 8;
  model.embedding_length = 1024;
  model.head_count = 8;
  model.head_count_kv = 8;
  model.tensor_bytes = 1000 * kMiB;
  return model;
}

llama_server::EnvLookup no_environment() {
  return [](std::string_view) -> std::optional<std::string> { return std::nullopt; };
}

// A discrete 16 GiB card on render node `minor` with `used` of its VRAM taken.
FakeGpu discrete(std::uint32_t minor, std::uint64_t used) {
  FakeGpu gpu = test::rx7800xt(minor);
  gpu.vram_used = used;
  return gpu;
}

// Node 0 the CPU; GPU 0 (node 1, renderD128) and GPU 1 (node 2, renderD129), both discrete.
void make_two_gpu_machine(FakeSysfs& sysfs) {
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, discrete(128, 1 * kGiB));
  sysfs.add_gpu_node(2, discrete(129, 1 * kGiB));
  sysfs.create_kfd();
}

// Options for a tree, with a server binary to find (plan_launch() requires one).
LoadOptions options_for(FakeSysfs& sysfs, std::map<std::string, std::string> extra = {}) {
  sysfs.write("bin/llama-server", "#!/bin/sh\n");
  std::filesystem::permissions(sysfs.root() / "bin/llama-server", std::filesystem::perms::owner_all);
  LoadOptions options;
  options.parallel_slots = 2;
  options.context_len = 1024;
  options.backend_options = {{"sysfs_root", sysfs.sysfs_root().string()},
                             {"kfd_path", sysfs.kfd_path().string()},
                             {"server_path", (sysfs.root() / "bin/llama-server").string()}};
  options.backend_options.merge(extra);
  return options;
}

std::vector<int> planned_gpus(const std::vector<LaunchPlan>& plans) {
  std::vector<int> gpus;
  for (const LaunchPlan& plan : plans) gpus.push_back(plan.gpu.index);
  return gpus;
}

// The Error an action throws; fails the test when it throws none.
Error error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e;
  }
  ADD_FAILURE() << "no error";
  return Error(errc::internal_error, "no error");
}

// The HIP_VISIBLE_DEVICES a launch of `plan` would get.
std::vector<std::pair<std::string, std::string>> pinning_of(const LaunchPlan& plan) {
  llama_server::LaunchSpec spec;
  apply_plan(plan, spec);
  return spec.environment_set;
}

TEST(RocmDevicesOption, ListOfIndicesIsParsedInOrder) {
  EXPECT_THAT(parse_rocm_options({{"devices", "0,1"}}, no_environment()).devices, ElementsAre(0, 1));
  EXPECT_THAT(parse_rocm_options({{"devices", "3,0,12"}}, no_environment()).devices, ElementsAre(3, 0, 12));
  EXPECT_THAT(parse_rocm_options({{"devices", "2"}}, no_environment()).devices, ElementsAre(2));
  EXPECT_TRUE(parse_rocm_options({}, no_environment()).devices.empty());
}

TEST(RocmDevicesOption, ItemThatIsNotAnIndexIsRefusedNamingTheKeyAndTheItem) {
  for (const auto& [value, item] : std::map<std::string, std::string>{{"0,x", "'x'"},
                                                                      {"-1", "'-1'"},
                                                                      {"0,,1", "''"},
                                                                      {"0,1,", "''"},
                                                                      {" 0", "' 0'"},
                                                                      {"1.5", "'1.5'"},
                                                                      {"gpu0", "'gpu0'"},
                                                                      {"99999999999", "'99999999999'"}}) {
    const Error error = error_of([&] { parse_rocm_options({{"devices", value}}, no_environment()); });
    EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("devices=" + value)) << value;
    EXPECT_THAT(error.what(), HasSubstr(item + " is not a GPU index")) << value;
  }
}

TEST(RocmDevicesOption, EmptyListIsRefused) {
  const Error error = error_of([] { parse_rocm_options({{"devices", ""}}, no_environment()); });
  EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
  EXPECT_THAT(error.what(), HasSubstr("backend option devices="));
  EXPECT_THAT(error.what(), HasSubstr("is not a GPU index"));
}

TEST(RocmDevicesOption, GpuNamedTwiceIsRefused) {
  const Error error = error_of([] { parse_rocm_options({{"devices", "0,1,0"}}, no_environment()); });
  EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
  EXPECT_THAT(error.what(), HasSubstr("devices=0,1,0"));
  EXPECT_THAT(error.what(), HasSubstr("GPU 0 is named twice"));
}

TEST(RocmDevicesOption, IsOneOfTheBackendsOwnKeys) { EXPECT_THAT(rocm_option_keys(), ::testing::Contains("devices")); }

TEST(ReplicaLaunchPlan, DevicesGiveOnePlanPinnedToEachGpuInTheirOrder) {
  FakeSysfs sysfs;
  make_two_gpu_machine(sysfs);
  const std::vector<LaunchPlan> plans =
      plan_replica_launches(small_model(), options_for(sysfs, {{"devices", "1,0"}}), no_environment());
  ASSERT_EQ(plans.size(), 2U);
  EXPECT_EQ(plans[0].gpu.index, 1);
  EXPECT_EQ(plans[0].gpu.render_minor, 129U);
  EXPECT_EQ(plans[1].gpu.index, 0);
  EXPECT_EQ(plans[1].gpu.render_minor, 128U);
  EXPECT_THAT(pinning_of(plans[0]), ElementsAre(std::pair<std::string, std::string>{"HIP_VISIBLE_DEVICES", "1"}));
  EXPECT_THAT(pinning_of(plans[1]), ElementsAre(std::pair<std::string, std::string>{"HIP_VISIBLE_DEVICES", "0"}));
  for (const LaunchPlan& plan : plans) {
    EXPECT_EQ(plan.gpu_layers, -1) << "the model fits: all layers";
    EXPECT_TRUE(plan.fit.fits());
  }
}

TEST(ReplicaLaunchPlan, DevicesWithAMatchingReplicasOptionAreAccepted) {
  FakeSysfs sysfs;
  make_two_gpu_machine(sysfs);
  const auto plans = plan_replica_launches(small_model(), options_for(sysfs, {{"devices", "0,1"}, {"replicas", "2"}}),
                                           no_environment());
  EXPECT_THAT(planned_gpus(plans), ElementsAre(0, 1));
}

TEST(ReplicaLaunchPlan, ReplicasAndDevicesThatDisagreeAreRefusedNamingBoth) {
  FakeSysfs sysfs;
  make_two_gpu_machine(sysfs);
  for (const char* replicas : {"1", "3"}) {
    const Error error = error_of([&] {
      plan_replica_launches(small_model(), options_for(sysfs, {{"devices", "0,1"}, {"replicas", replicas}}),
                            no_environment());
    });
    EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
    EXPECT_THAT(error.what(), HasSubstr(std::string("replicas=") + replicas));
    EXPECT_THAT(error.what(), HasSubstr("devices (2 GPUs) disagree"));
  }
}

// Each GPU is checked as a single-GPU load would be: the one the model does not fit on is named.
TEST(ReplicaLaunchPlan, DeviceTheModelDoesNotFitOnIsRefusedByName) {
  FakeSysfs sysfs;
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, discrete(128, 1 * kGiB));
  sysfs.add_gpu_node(2, discrete(129, 16 * kGiB - 100 * kMiB));  // almost full
  sysfs.create_kfd();
  const Error error = error_of([&] {
    plan_replica_launches(small_model(), options_for(sysfs, {{"devices", "0,1"}}), no_environment());
  });
  EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
  EXPECT_THAT(error.what(), HasSubstr("GPU 1 ("));
  EXPECT_THAT(error.what(), HasSubstr("/models/small.gguf needs"));
}

TEST(ReplicaLaunchPlan, DeviceThatDoesNotExistIsRefusedListingTheGpus) {
  FakeSysfs sysfs;
  make_two_gpu_machine(sysfs);
  const Error error = error_of([&] {
    plan_replica_launches(small_model(), options_for(sysfs, {{"devices", "0,2"}}), no_environment());
  });
  EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
  EXPECT_THAT(error.what(), HasSubstr("device 2 is not a readable GPU"));
  EXPECT_THAT(error.what(), HasSubstr("GPU 1 (gfx1100"));
}

TEST(ReplicaLaunchPlan, ReplicasWithoutDevicesTakeTheRoomiestUsableGpus) {
  FakeSysfs sysfs;
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, discrete(128, 8 * kGiB));      // GPU 0:  8 GiB free
  sysfs.add_gpu_node(2, test::ryzen_9950x_igpu(129));  // GPU 1:  integrated
  sysfs.add_gpu_node(3, discrete(130, 1 * kGiB));      // GPU 2: 15 GiB free
  sysfs.add_gpu_node(4, discrete(131, 4 * kGiB));      // GPU 3: 12 GiB free
  sysfs.create_kfd();
  const auto plans = plan_replica_launches(small_model(), options_for(sysfs, {{"replicas", "2"}}), no_environment());
  EXPECT_THAT(planned_gpus(plans), UnorderedElementsAre(2, 3));
  for (const LaunchPlan& plan : plans) {
    EXPECT_THAT(pinning_of(plan), ElementsAre(std::pair<std::string, std::string>{"HIP_VISIBLE_DEVICES",
                                                                                  std::to_string(plan.gpu.index)}));
  }
}

TEST(ReplicaLaunchPlan, EquallyRoomyGpusAreTakenInIndexOrder) {
  FakeSysfs sysfs;
  sysfs.add_cpu_node(0);
  for (std::uint32_t node = 1; node <= 3; ++node) sysfs.add_gpu_node(node, discrete(127 + node, 1 * kGiB));
  sysfs.create_kfd();
  const auto plans = plan_replica_launches(small_model(), options_for(sysfs, {{"replicas", "2"}}), no_environment());
  EXPECT_THAT(planned_gpus(plans), ElementsAre(0, 1));
}

TEST(ReplicaLaunchPlan, MoreReplicasThanGpusIsRefusedListingTheGpusFound) {
  FakeSysfs sysfs;
  make_two_gpu_machine(sysfs);
  const Error error = error_of([&] {
    plan_replica_launches(small_model(), options_for(sysfs, {{"replicas", "3"}}), no_environment());
  });
  EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
  EXPECT_THAT(error.what(), HasSubstr("replicas=3 needs 3 usable AMD GPUs, found 2"));
  EXPECT_THAT(error.what(), HasSubstr("GPU 0 (gfx1100, discrete"));
  EXPECT_THAT(error.what(), HasSubstr("GPU 1 (gfx1100, discrete"));
}

// A card whose DRM files cannot be read is still listed, with why, so the shortfall is explained.
TEST(ReplicaLaunchPlan, UnreadableGpuIsNamedWhenThereAreTooFewForTheReplicas) {
  FakeSysfs sysfs;
  make_two_gpu_machine(sysfs);
  std::filesystem::remove(sysfs.drm_device(129) / "mem_info_vram_total");
  const Error error = error_of([&] {
    plan_replica_launches(small_model(), options_for(sysfs, {{"replicas", "2"}}), no_environment());
  });
  EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
  EXPECT_THAT(error.what(), HasSubstr("needs 2 usable AMD GPUs, found 1"));
  EXPECT_THAT(error.what(), HasSubstr("GPU 1 (gfx1100) unreadable"));
}

// Its "VRAM" is system RAM: a replica there would fail or crawl, so replicas never count it, and
// the refusal shows it so the user sees why their second GPU was not enough.
TEST(ReplicaLaunchPlan, IntegratedGpuIsNeverChosenForAReplica) {
  FakeSysfs sysfs;
  test::make_9950x_with_7800xt(sysfs);  // GPU 0 discrete, GPU 1 integrated
  const Error by_count = error_of([&] {
    plan_replica_launches(small_model(), options_for(sysfs, {{"replicas", "2"}}), no_environment());
  });
  EXPECT_TRUE(by_count.is(errc::invalid_argument)) << by_count.what();
  EXPECT_THAT(by_count.what(), HasSubstr("needs 2 usable AMD GPUs, found 1"));
  EXPECT_THAT(by_count.what(), HasSubstr("GPU 1 (gfx1100, integrated"));
  const Error by_name = error_of([&] {
    plan_replica_launches(small_model(), options_for(sysfs, {{"devices", "0,1"}}), no_environment());
  });
  EXPECT_TRUE(by_name.is(errc::invalid_argument)) << by_name.what();
  EXPECT_THAT(by_name.what(), HasSubstr("device 1 is not a usable discrete AMD GPU"));
}

TEST(ReplicaLaunchPlan, WithoutReplicasOrDevicesThereIsOnePlanAsBefore) {
  FakeSysfs sysfs;
  make_two_gpu_machine(sysfs);
  LoadOptions options = options_for(sysfs);
  options.device = 1;
  const auto plans = plan_replica_launches(small_model(), options, no_environment());
  EXPECT_THAT(planned_gpus(plans), ElementsAre(1));
  options.backend_options["replicas"] = "1";
  EXPECT_THAT(planned_gpus(plan_replica_launches(small_model(), options, no_environment())), ElementsAre(1));
}

TEST(ReplicaLaunchPlan, ReplicasWithoutKfdIsTheMissingDriver) {
  FakeSysfs sysfs;
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, discrete(128, 1 * kGiB));
  sysfs.add_gpu_node(2, discrete(129, 1 * kGiB));
  const Error error = error_of([&] {
    plan_replica_launches(small_model(), options_for(sysfs, {{"replicas", "2"}}), no_environment());
  });
  EXPECT_TRUE(error.is(errc::backend_unavailable)) << error.what();
  EXPECT_THAT(error.what(), HasSubstr("no " + sysfs.kfd_path().string()));
}

TEST(GpuGone, GpuStillInSysfsIsNotGone) {
  FakeSysfs sysfs;
  make_two_gpu_machine(sysfs);
  const auto plans = plan_replica_launches(small_model(), options_for(sysfs, {{"devices", "0,1"}}), no_environment());
  for (const LaunchPlan& plan : plans) EXPECT_EQ(gpu_gone(plan, sysfs.paths()), std::nullopt);
}

// amdgpu unbound or the card removed: its KFD topology node goes.
TEST(GpuGone, TopologyNodeRemovedMeansGoneAndNamesTheGpu) {
  FakeSysfs sysfs;
  make_two_gpu_machine(sysfs);
  const auto plans = plan_replica_launches(small_model(), options_for(sysfs, {{"devices", "0,1"}}), no_environment());
  std::filesystem::remove(sysfs.node_properties(2));
  EXPECT_EQ(gpu_gone(plans[0], sysfs.paths()), std::nullopt) << "GPU 0 is still there";
  const std::optional<std::string> gone = gpu_gone(plans[1], sysfs.paths());
  ASSERT_TRUE(gone.has_value());
  EXPECT_THAT(*gone, HasSubstr("GPU 1 (gfx1100, renderD129) is gone"));
  EXPECT_THAT(*gone, HasSubstr(sysfs.node_properties(2).string() + " no longer exists"));
}

// The DRM side of the same event: the render node's directory goes.
TEST(GpuGone, RenderNodeRemovedMeansGone) {
  FakeSysfs sysfs;
  make_two_gpu_machine(sysfs);
  const auto plans = plan_replica_launches(small_model(), options_for(sysfs, {{"devices", "0,1"}}), no_environment());
  const std::filesystem::path render = sysfs.sysfs_root() / "class/drm/renderD129";
  std::filesystem::remove_all(render);
  EXPECT_EQ(gpu_gone(plans[0], sysfs.paths()), std::nullopt);
  const std::optional<std::string> gone = gpu_gone(plans[1], sysfs.paths());
  ASSERT_TRUE(gone.has_value());
  EXPECT_THAT(*gone, HasSubstr("GPU 1 (gfx1100, renderD129) is gone"));
  EXPECT_THAT(*gone, HasSubstr(render.string() + " no longer exists"));
  EXPECT_THAT(*gone, Not(HasSubstr("topology")));
}

}  // namespace
}  // namespace inference::rocm
