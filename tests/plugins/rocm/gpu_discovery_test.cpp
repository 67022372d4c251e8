#include "gpu_discovery.hpp"

#include <gtest/gtest.h>

#include "fake_sysfs.hpp"
#include "inference/error.hpp"

namespace inference::rocm {
namespace {

using test::FakeGpu;
using test::FakeSysfs;
using test::kGiB;
using test::kMiB;

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(GpuDiscovery, SingleDiscreteGpuIsFoundWithItsMemory) {
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  const GpuDiscovery found = discover_gpus(sysfs.paths());
  ASSERT_EQ(found.gpus.size(), 1u);
  const GpuInfo& gpu = found.gpus[0];
  EXPECT_EQ(gpu.index, 0);  // the CPU node is not numbered
  EXPECT_EQ(gpu.kfd_node, 1u);
  EXPECT_EQ(gpu.gfx_target, "gfx1100");
  EXPECT_EQ(gpu.render_minor, 128u);
  EXPECT_EQ(gpu.vendor_id, kAmdVendorId);
  EXPECT_EQ(gpu.device_id, 0x744cu);
  EXPECT_EQ(gpu.vram_total, 24 * kGiB);
  EXPECT_EQ(gpu.vram_free(), 24 * kGiB - 512 * kMiB);
  EXPECT_FALSE(gpu.integrated);
  EXPECT_TRUE(found.problems.empty());
  EXPECT_EQ(select_gpu(found, -1).index, 0);
}

TEST(GpuDiscovery, RyzenIgpuIsIntegratedAndNeverChosenDespiteItsFreeMemory) {
  FakeSysfs sysfs;
  test::make_9950x_with_7800xt(sysfs);
  const GpuDiscovery found = discover_gpus(sysfs.paths());
  ASSERT_EQ(found.gpus.size(), 2u);
  EXPECT_EQ(found.gpus[0].gfx_target, "gfx1100");
  EXPECT_FALSE(found.gpus[0].integrated);
  EXPECT_EQ(found.gpus[1].gfx_target, "gfx1100");
  EXPECT_TRUE(found.gpus[1].integrated);
  EXPECT_EQ(select_gpu(found, -1).index, 0);
  const std::string refused = error_of([&] { select_gpu(found, 1); });
  EXPECT_NE(refused.find("integrated"), std::string::npos) << refused;
}

TEST(GpuDiscovery, IgpuListedFirstShiftsTheDiscreteGpuToIndexOne) {
  FakeSysfs sysfs;
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, test::ryzen_9950x_igpu(128));
  sysfs.add_gpu_node(2, test::rx7800xt(129));
  const GpuDiscovery found = discover_gpus(sysfs.paths());
  EXPECT_EQ(select_gpu(found, -1).index, 1);
  EXPECT_EQ(select_gpu(found, -1).render_minor, 129u);
}

TEST(GpuDiscovery, AutoPicksTheDiscreteGpuWithMostFreeVram) {
  FakeSysfs sysfs;
  sysfs.add_cpu_node(0);
  FakeGpu busy;
  busy.render_minor = 128;
  busy.vram_used = 20 * kGiB;
  FakeGpu idle = busy;
  idle.render_minor = 129;
  idle.vram_total = 16 * kGiB;
  idle.vram_used = 1 * kGiB;
  sysfs.add_gpu_node(1, busy);
  sysfs.add_gpu_node(2, idle);
  const GpuDiscovery found = discover_gpus(sysfs.paths());
  EXPECT_EQ(select_gpu(found, -1).index, 1);
  EXPECT_EQ(select_gpu(found, 0).index, 0);  // an explicit choice is honoured
  const std::string absent = error_of([&] { select_gpu(found, 5); });
  EXPECT_NE(absent.find("device 5"), std::string::npos) << absent;
}

TEST(GpuDiscovery, NodesAreNumberedInNumericNotLexicalOrder) {
  FakeSysfs sysfs;
  sysfs.add_cpu_node(0);
  for (std::uint32_t node = 1; node <= 10; ++node) {
    FakeGpu gpu;
    gpu.render_minor = 127 + node;
    sysfs.add_gpu_node(node, gpu);
  }
  const GpuDiscovery found = discover_gpus(sysfs.paths());
  ASSERT_EQ(found.gpus.size(), 10u);
  EXPECT_EQ(found.gpus[1].kfd_node, 2u);
  EXPECT_EQ(found.gpus[9].kfd_node, 10u);
  EXPECT_EQ(found.gpus[9].index, 9);
}

TEST(GpuDiscovery, MissingTopologySaysSo) {
  FakeSysfs sysfs;
  const std::string error = error_of([&] { discover_gpus(sysfs.paths()); });
  EXPECT_NE(error.find("no KFD topology"), std::string::npos) << error;
  EXPECT_NE(error.find(sysfs.sysfs_root().string()), std::string::npos) << error;
}

TEST(GpuDiscovery, MissingKfdDeviceIsNamed) {
  FakeSysfs sysfs;
  const std::string error = error_of([&] { require_kfd(sysfs.paths()); });
  EXPECT_NE(error.find(sysfs.kfd_path().string()), std::string::npos) << error;
  sysfs.create_kfd();
  EXPECT_NO_THROW(require_kfd(sysfs.paths()));
}

TEST(GpuDiscovery, MalformedPropertiesFailNamingTheFile) {
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  sysfs.write(std::filesystem::relative(sysfs.node_properties(1), sysfs.root()), "simd_count lots\n");
  const std::string error = error_of([&] { discover_gpus(sysfs.paths()); });
  EXPECT_NE(error.find(sysfs.node_properties(1).string()), std::string::npos) << error;
  EXPECT_NE(error.find("malformed line 'simd_count lots'"), std::string::npos) << error;
}

TEST(GpuDiscovery, PropertiesWithoutRenderMinorFailNamingTheKey) {
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  sysfs.write(std::filesystem::relative(sysfs.node_properties(1), sysfs.root()),
              "simd_count 192\ngfx_target_version 110000\n");
  const std::string error = error_of([&] { discover_gpus(sysfs.paths()); });
  EXPECT_NE(error.find("drm_render_minor"), std::string::npos) << error;
}

TEST(GpuDiscovery, OversizedFileIsRefused) {
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  sysfs.write(std::filesystem::relative(sysfs.node_properties(1), sysfs.root()),
              std::string(kMaxSysfsFileBytes + 1, '\n'));
  const std::string error = error_of([&] { discover_gpus(sysfs.paths()); });
  EXPECT_NE(error.find("larger than"), std::string::npos) << error;
}

TEST(GpuDiscovery, UnreadableDrmFileKeepsNumberingAndReportsTheProblem) {
  FakeSysfs sysfs;
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, test::rx7800xt(128));
  sysfs.add_gpu_node(2, test::rx7800xt(129));
  // A directory where a file should be cannot be read, even by root.
  const auto vram = sysfs.drm_device(128) / "mem_info_vram_total";
  std::filesystem::remove(vram);
  std::filesystem::create_directory(vram);
  const GpuDiscovery found = discover_gpus(sysfs.paths());
  ASSERT_EQ(found.gpus.size(), 1u);
  EXPECT_EQ(found.gpus[0].index, 1);
  ASSERT_EQ(found.problems.size(), 1u);
  EXPECT_NE(found.problems[0].find(vram.string()), std::string::npos) << found.problems[0];
}

TEST(GpuDiscovery, GarbageInMemoryFileIsReportedNotGuessed) {
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  sysfs.write(std::filesystem::relative(sysfs.drm_device(128) / "mem_info_vram_used", sysfs.root()), "n/a\n");
  const GpuDiscovery found = discover_gpus(sysfs.paths());
  EXPECT_TRUE(found.gpus.empty());
  ASSERT_EQ(found.problems.size(), 1u);
  EXPECT_NE(found.problems[0].find("expected a number, found 'n/a'"), std::string::npos) << found.problems[0];
  const std::string error = error_of([&] { select_gpu(found, -1); });
  EXPECT_NE(error.find("no discrete AMD GPU"), std::string::npos) << error;
  EXPECT_NE(error.find("n/a"), std::string::npos) << error;
}

TEST(GpuDiscovery, EnvironmentOverridesThePaths) {
  const auto env = [](std::string_view name) -> std::optional<std::string> {
    if (name == kSysfsRootVariable) return "/tmp/fake-sys";
    if (name == kKfdPathVariable) return "";
    return std::nullopt;
  };
  const DiscoveryPaths paths = discovery_paths_from_environment(env);
  EXPECT_EQ(paths.sysfs_root, "/tmp/fake-sys");
  EXPECT_EQ(paths.kfd_device, kDefaultKfdPath);
}

}  // namespace
}  // namespace inference::rocm
