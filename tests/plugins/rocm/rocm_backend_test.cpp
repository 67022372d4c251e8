// RocmBackend::available() on fake machines, in-process and through the built plugin (what
// `llmctl backends` shows).
#include "rocm_backend.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>

#include "fake_servers.hpp"
#include "fake_sysfs.hpp"
#include "inference/registry.hpp"

namespace inference::rocm {
namespace {

using test::FakeSysfs;

llama_server::EnvLookup fake_env(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
    const auto it = variables.find(std::string(name));
    if (it == variables.end()) return std::nullopt;
    return it->second;
  };
}

std::map<std::string, std::string> pointing_at(const FakeSysfs& sysfs) {
  return {{"INFERENCE_ROCM_SYSFS_ROOT", sysfs.sysfs_root().string()},
          {"INFERENCE_ROCM_KFD_PATH", sysfs.kfd_path().string()},
          {"INFERENCE_ROCM_DRI_DIR", sysfs.dri_dir().string()}};
}

std::string fake_server(FakeSysfs& sysfs) { return test::write_hip_stand_in(sysfs).string(); }

TEST(RocmBackend, AvailableWithKfdADiscreteGpuAndAServer) {
  FakeSysfs sysfs;
  test::make_9950x_with_7800xt(sysfs);
  auto env = pointing_at(sysfs);
  env["ROCM_LLAMA_SERVER_PATH"] = fake_server(sysfs);
  const Availability availability = RocmBackend(fake_env(env)).available();
  EXPECT_TRUE(availability.available) << availability.reason;
}

TEST(RocmBackend, UnavailableWithoutKfdNamesTheDevice) {
  FakeSysfs sysfs;
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, test::rx7800xt(128));
  const Availability availability = RocmBackend(fake_env(pointing_at(sysfs))).available();
  EXPECT_FALSE(availability.available);
  EXPECT_NE(availability.reason.find("no " + sysfs.kfd_path().string()), std::string::npos) << availability.reason;
}

TEST(RocmBackend, UnavailableWithOnlyAnIntegratedGpu) {
  FakeSysfs sysfs;
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, test::ryzen_9950x_igpu(128));
  sysfs.create_kfd();
  const Availability availability = RocmBackend(fake_env(pointing_at(sysfs))).available();
  EXPECT_FALSE(availability.available);
  EXPECT_NE(availability.reason.find("no discrete AMD GPU"), std::string::npos) << availability.reason;
  EXPECT_NE(availability.reason.find("integrated"), std::string::npos) << availability.reason;
}

TEST(RocmBackend, UnavailableWithoutAServerSaysWhereItLooked) {
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  const Availability availability = RocmBackend(fake_env(pointing_at(sysfs))).available();
  EXPECT_FALSE(availability.available);
  EXPECT_NE(availability.reason.find("llama-server"), std::string::npos) << availability.reason;
}

TEST(RocmBackend, UnavailableWithMalformedTopologyNamesTheFile) {
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  sysfs.write(std::filesystem::relative(sysfs.node_properties(1), sysfs.root()), "gfx_target_version\n");
  const Availability availability = RocmBackend(fake_env(pointing_at(sysfs))).available();
  EXPECT_FALSE(availability.available);
  EXPECT_NE(availability.reason.find(sysfs.node_properties(1).string()), std::string::npos) << availability.reason;
}

TEST(RocmBackend, PluginReportsWhyItIsUnavailableOnAMachineWithoutAmdGpus) {
  FakeSysfs empty;  // no /dev/kfd, no topology: what this CI machine looks like to the plugin
  ::setenv("INFERENCE_ROCM_SYSFS_ROOT", empty.sysfs_root().c_str(), 1);
  ::setenv("INFERENCE_ROCM_KFD_PATH", empty.kfd_path().c_str(), 1);
  Registry registry;
  registry.load_plugin(ROCM_TEST_PLUGIN_FILE);
  const Availability availability = registry.get("rocm")->available();
  EXPECT_FALSE(availability.available);
  EXPECT_NE(availability.reason.find("amdgpu kernel driver"), std::string::npos) << availability.reason;
}

TEST(RocmBackend, PluginIsAvailableOnAFakeAmdMachine) {
  FakeSysfs sysfs;
  test::make_9950x_with_7800xt(sysfs);
  ::setenv("INFERENCE_ROCM_SYSFS_ROOT", sysfs.sysfs_root().c_str(), 1);
  ::setenv("INFERENCE_ROCM_KFD_PATH", sysfs.kfd_path().c_str(), 1);
  ::setenv("INFERENCE_ROCM_DRI_DIR", sysfs.dri_dir().c_str(), 1);
  ::setenv("ROCM_LLAMA_SERVER_PATH", fake_server(sysfs).c_str(), 1);
  Registry registry;
  registry.load_plugin(ROCM_TEST_PLUGIN_FILE);
  const Availability availability = registry.get("rocm")->available();
  EXPECT_TRUE(availability.available) << availability.reason;
}

}  // namespace
}  // namespace inference::rocm
