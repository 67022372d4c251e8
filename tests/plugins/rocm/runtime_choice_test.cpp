#include "runtime_choice.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>

#include "device_environment.hpp"
#include "fake_servers.hpp"
#include "fake_sysfs.hpp"
#include "inference/error.hpp"
#include "launch_plan.hpp"

namespace inference::rocm {
namespace {

namespace fs = std::filesystem;
using llama_server::ServerDevice;
using llama_server::ServerDeviceList;
using test::FakeSysfs;
using ::testing::HasSubstr;

llama_server::EnvLookup fake_env(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
    const auto it = variables.find(std::string(name));
    if (it == variables.end()) return std::nullopt;
    return it->second;
  };
}

ServerDeviceList cpu_only() { return {{"CPU"}, {}, {}}; }

ServerDeviceList hip_sees(std::vector<ServerDevice> devices) { return {{"ROCm", "CPU"}, {}, std::move(devices)}; }

const ServerDevice kRx7900{"ROCm0", "AMD Radeon RX 7900 XTX", 24560, 24000};
const ServerDevice kLavapipe{"Vulkan0", "llvmpipe (LLVM 21.1.8, 256 bits)", 24105, 23358};
const ServerDevice kRadv7800{"Vulkan0", "AMD Radeon RX 7800 XT (RADV NAVI32)", 16368, 16000};
const ServerDevice kRadvIgpu{"Vulkan0", "AMD Radeon Graphics (RADV RAPHAEL_MENDOCINO)", 48000, 47000};

// A Vulkan build whose physical devices are `physical`, answering one GGML_VK_VISIBLE_DEVICES
// index at a time as ggml does (an index past the end: the backend fails, no device).
DeviceProbe vulkan_build(std::vector<ServerDevice> physical, std::shared_ptr<int> probes = nullptr) {
  return [physical = std::move(physical), probes](const fs::path&, const llama_server::ProbeEnvironment& env) {
    if (probes) ++*probes;
    const auto it = env.find("GGML_VK_VISIBLE_DEVICES");
    const std::size_t index = it == env.end() ? physical.size() : std::stoul(it->second);
    if (index >= physical.size()) return ServerDeviceList{{"CPU"}, {"libggml-vulkan.so"}, {}};
    return ServerDeviceList{{"CPU", "Vulkan"}, {}, {physical[index]}};
  };
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

struct Machine {
  FakeSysfs sysfs;
  fs::path binary;
  GpuDiscovery discovery;
  RocmOptions options;

  explicit Machine(bool field_report = false) {
    if (field_report) {
      test::make_9950x_with_7800xt(sysfs);
    } else {
      test::make_single_gpu_machine(sysfs);
    }
    binary = test::write_server_stand_in(sysfs, "llama-server", "");
    discovery = discover_gpus(sysfs.paths());
    options.paths = sysfs.paths();
  }
  const GpuInfo& gpu() const { return discovery.gpus.front(); }
};

TEST(RuntimeChoice, CpuOnlyBuildHasNoRocmSupport) {
  Machine machine;
  machine.options.runtime = Runtime::hip;
  const std::string error = error_of(
      [&] { check_hip_binary(machine.binary, machine.gpu(), machine.options, test::fixed_probe(cpu_only())); });
  EXPECT_THAT(error, HasSubstr(machine.binary.string() + " has no ROCm (HIP) support: its ggml loaded CPU only"));
  EXPECT_THAT(error, HasSubstr("scripts/setup --gpu rocm"));
  EXPECT_THAT(error, HasSubstr("ROCM_LLAMA_SERVER_PATH"));
}

TEST(RuntimeChoice, HipBuildWhoseRuntimeSeesNoGpuSaysSoAndNotThatItLacksRocm) {
  Machine machine;
  const ServerDeviceList failing{{"CPU"}, {"libggml-hip.so"}, {}};
  const std::string error =
      error_of([&] { check_hip_binary(machine.binary, machine.gpu(), machine.options, test::fixed_probe(failing)); });
  EXPECT_THAT(error, HasSubstr("is a HIP build, but the HIP runtime sees no GPU"));
  EXPECT_THAT(error, HasSubstr("libggml-hip.so failed to initialise"));
  EXPECT_THAT(error, HasSubstr(machine.sysfs.kfd_path().string()));
  EXPECT_THAT(error, ::testing::Not(HasSubstr("has no ROCm")));
}

TEST(RuntimeChoice, HipBuildIsProbedPinnedToTheGpuAndNamesItsDevice) {
  Machine machine;
  auto asked = std::make_shared<llama_server::ProbeEnvironment>();
  const RuntimeChoice choice =
      check_hip_binary(machine.binary, machine.gpu(), machine.options, test::fixed_probe(hip_sees({kRx7900}), asked));
  EXPECT_EQ(*asked, (llama_server::ProbeEnvironment{{"HIP_VISIBLE_DEVICES", "0"}}));
  EXPECT_EQ(choice.runtime, Runtime::hip);
  EXPECT_EQ(choice.serving_device, "GPU 0 (gfx1100) via HIP (ROCm0: AMD Radeon RX 7900 XTX)");
  EXPECT_EQ(choice.devices, std::vector<std::string>{"ROCm0: AMD Radeon RX 7900 XTX (24560 MiB, 24000 MiB free)"});
}

TEST(RuntimeChoice, UnopenableKfdIsReportedBeforeTheBuildIsProbed) {
  Machine machine;
  // A directory: open(O_RDWR) fails with EISDIR for every user, root included.
  fs::remove(machine.sysfs.kfd_path());
  fs::create_directory(machine.sysfs.kfd_path());
  auto probes = std::make_shared<int>(0);
  const DeviceProbe counting = [probes](const fs::path&, const llama_server::ProbeEnvironment&) {
    ++*probes;
    return hip_sees({kRx7900});
  };
  const std::string error =
      error_of([&] { check_hip_binary(machine.binary, machine.gpu(), machine.options, counting); });
  EXPECT_THAT(error, HasSubstr("cannot open " + machine.sysfs.kfd_path().string() + " read-write: Is a directory"));
  EXPECT_EQ(*probes, 0);
}

TEST(RuntimeChoice, VulkanMatchesTheDiscreteCardByItsPositionAmongAmdDevices) {
  Machine machine(/*field_report=*/true);  // GPU 0: the RX 7800 XT, GPU 1: the 9950X's iGPU
  const RuntimeChoice choice = check_vulkan_binary(machine.binary, machine.discovery, machine.gpu(), machine.options,
                                                   vulkan_build({kLavapipe, kRadv7800, kRadvIgpu}));
  EXPECT_EQ(choice.runtime, Runtime::vulkan);
  EXPECT_EQ(choice.vulkan_index, 1);
  EXPECT_EQ(choice.serving_device, "GPU 0 (gfx1100) via Vulkan (Vulkan0: AMD Radeon RX 7800 XT (RADV NAVI32))");
}

TEST(RuntimeChoice, VulkanCountMismatchIsRefusedRatherThanGuessed) {
  Machine machine(/*field_report=*/true);
  const std::string error = error_of([&] {
    check_vulkan_binary(machine.binary, machine.discovery, machine.gpu(), machine.options,
                        vulkan_build({kLavapipe, kRadv7800}));
  });
  EXPECT_THAT(error, HasSubstr("cannot tell which Vulkan device"));
  EXPECT_THAT(error, HasSubstr("sysfs shows 2 AMD GPU(s), the build lists 1 AMD Vulkan device(s)"));
  EXPECT_THAT(error, HasSubstr("0: llvmpipe"));
}

TEST(RuntimeChoice, SoftwareVulkanDeviceStandsInOnlyWithAllowSoftwareDevice) {
  Machine machine;
  const DeviceProbe lavapipe_only = vulkan_build({kLavapipe});
  EXPECT_THAT(error_of([&] {
                check_vulkan_binary(machine.binary, machine.discovery, machine.gpu(), machine.options, lavapipe_only);
              }),
              HasSubstr("allow_software_device=1"));
  machine.options.allow_software_device = true;
  const RuntimeChoice choice =
      check_vulkan_binary(machine.binary, machine.discovery, machine.gpu(), machine.options, lavapipe_only);
  EXPECT_EQ(choice.vulkan_index, 0);
  EXPECT_EQ(choice.devices,
            std::vector<std::string>{"Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits) (24105 MiB, 23358 MiB free)"});
}

TEST(RuntimeChoice, BuildWithoutVulkanIsRefusedForRuntimeVulkan) {
  Machine machine;
  const std::string error = error_of([&] {
    check_vulkan_binary(machine.binary, machine.discovery, machine.gpu(), machine.options,
                        test::fixed_probe(cpu_only()));
  });
  EXPECT_THAT(error, HasSubstr(machine.binary.string() + " has no Vulkan support: its ggml loaded CPU only"));
}

// Whatever scripts/setup installed on this machine stays out of the auto tests.
const InstalledBuilds kNothingInstalled{};

TEST(RuntimeChoice, AutoPrefersAHipBuildAndSaysSo) {
  Machine machine;
  const auto env = fake_env({{"ROCM_LLAMA_SERVER_PATH", machine.binary.string()}});
  const RuntimeChoice choice = choose_runtime(machine.discovery, machine.gpu(), machine.options, std::nullopt, env,
                                              test::fixed_probe(hip_sees({kRx7900})), kNothingInstalled);
  EXPECT_EQ(choice.runtime, Runtime::hip);
  EXPECT_THAT(choice.reason, HasSubstr("runtime=auto chose HIP: " + machine.binary.string()));
}

TEST(RuntimeChoice, AutoFallsBackToTheVulkanBuildAndSaysWhy) {
  Machine machine;
  machine.options.allow_software_device = true;
  const fs::path vulkan = test::write_server_stand_in(machine.sysfs, "llama-server-vulkan", "");
  const auto env =
      fake_env({{"LLAMA_SERVER_PATH", machine.binary.string()}, {"VULKAN_LLAMA_SERVER_PATH", vulkan.string()}});
  const DeviceProbe builds = [&](const fs::path& binary, const llama_server::ProbeEnvironment& asked) {
    return binary == vulkan ? vulkan_build({kLavapipe})(binary, asked) : cpu_only();
  };
  const RuntimeChoice choice =
      choose_runtime(machine.discovery, machine.gpu(), machine.options, std::nullopt, env, builds, kNothingInstalled);
  EXPECT_EQ(choice.runtime, Runtime::vulkan);
  EXPECT_EQ(choice.binary, vulkan);
  EXPECT_THAT(choice.reason, HasSubstr("runtime=auto chose Vulkan, as HIP is not usable ("));
  EXPECT_THAT(choice.reason, HasSubstr("has no ROCm (HIP) support"));
}

TEST(RuntimeChoice, AutoWithoutAVulkanBuildGivesTheHipError) {
  Machine machine;
  const auto env = fake_env({{"LLAMA_SERVER_PATH", machine.binary.string()}});
  const std::string error = error_of([&] {
    choose_runtime(machine.discovery, machine.gpu(), machine.options, std::nullopt, env, test::fixed_probe(cpu_only()),
                   kNothingInstalled);
  });
  EXPECT_THAT(error, HasSubstr("has no ROCm (HIP) support: its ggml loaded CPU only"));
  EXPECT_THAT(error, HasSubstr("no Vulkan build to fall back to"));
}

TEST(RuntimeChoice, VulkanPlanPinsGgmlVkVisibleDevicesAndNoHipVariable) {
  LaunchPlan plan;
  plan.gpu.index = 0;
  plan.runtime.runtime = Runtime::vulkan;
  plan.runtime.vulkan_index = 2;
  llama_server::LaunchSpec spec;
  spec.environment_set = {{"HIP_VISIBLE_DEVICES", "0"}, {"GGML_VK_VISIBLE_DEVICES", "0,1"}};
  apply_plan(plan, spec);
  EXPECT_EQ(spec.environment_set, (std::vector<std::pair<std::string, std::string>>{{"GGML_VK_VISIBLE_DEVICES", "2"}}));
  EXPECT_THAT(spec.environment_remove, ::testing::Contains("HIP_VISIBLE_DEVICES"));
  EXPECT_THAT(spec.environment_remove, ::testing::Contains("GGML_VK_VISIBLE_DEVICES"));
}

TEST(RocmRuntimeOption, RuntimeDriDirAndAllowSoftwareDeviceAreParsed) {
  const auto env = fake_env({{"INFERENCE_ROCM_DRI_DIR", "/tmp/dri"}});
  const RocmOptions defaults = parse_rocm_options({}, env);
  EXPECT_EQ(defaults.runtime, Runtime::automatic);
  EXPECT_EQ(defaults.paths.dri_dir, "/tmp/dri");
  EXPECT_FALSE(defaults.allow_software_device);
  EXPECT_EQ(parse_rocm_options({}, fake_env({})).paths.dri_dir, "/dev/dri");
  const RocmOptions parsed =
      parse_rocm_options({{"runtime", "vulkan"}, {"dri_dir", "/x/dri"}, {"allow_software_device", "1"}}, env);
  EXPECT_EQ(parsed.runtime, Runtime::vulkan);
  EXPECT_EQ(parsed.paths.dri_dir, "/x/dri");
  EXPECT_TRUE(parsed.allow_software_device);
  EXPECT_EQ(parse_rocm_options({{"runtime", "hip"}}, env).runtime, Runtime::hip);
  EXPECT_EQ(parse_rocm_options({{"runtime", "auto"}}, env).runtime, Runtime::automatic);
}

TEST(RocmRuntimeOption, BadValuesAreRefusedNamingTheKey) {
  const auto env = fake_env({});
  EXPECT_THAT(error_of([&] {
                parse_rocm_options({{"runtime", "cuda"}}, env);
              }),
              HasSubstr("backend option runtime must be auto, hip or vulkan, not 'cuda'"));
  EXPECT_THAT(error_of([&] {
                parse_rocm_options({{"dri_dir", ""}}, env);
              }),
              HasSubstr("backend option dri_dir is empty"));
  EXPECT_THAT(error_of([&] {
                parse_rocm_options({{"allow_software_device", "yes"}}, env);
              }),
              HasSubstr("allow_software_device must be 0 or 1"));
  EXPECT_THAT(rocm_option_keys(), ::testing::IsSupersetOf({"runtime", "dri_dir", "allow_software_device"}));
}

TEST(RocmRuntimeOption, RuntimeBinariesComeFromTheirVariablesThenTheSetupInstalledBuild) {
  FakeSysfs tree;
  const fs::path hip = test::write_server_stand_in(tree, "llama-server-hip", "");
  const fs::path vulkan = test::write_server_stand_in(tree, "llama-server-vulkan", "");
  const fs::path generic = test::write_server_stand_in(tree, "llama-server", "");
  const auto path_only = fake_env({{"LLAMA_SERVER_PATH", generic.string()}});
  EXPECT_EQ(find_rocm_server_binary(std::nullopt, path_only, hip), hip);  // the installed HIP build first
  EXPECT_EQ(find_rocm_server_binary(std::nullopt, path_only, std::nullopt), generic);
  EXPECT_EQ(find_rocm_server_binary(std::nullopt, fake_env({{"ROCM_LLAMA_SERVER_PATH", generic.string()}}), hip),
            generic);
  EXPECT_EQ(find_vulkan_server_binary(std::nullopt, path_only, vulkan), vulkan);
  EXPECT_EQ(find_vulkan_server_binary(std::nullopt, fake_env({{"VULKAN_LLAMA_SERVER_PATH", generic.string()}}), vulkan),
            generic);
  EXPECT_EQ(find_vulkan_server_binary(hip, path_only, vulkan), hip);  // server_path wins
  EXPECT_EQ(vulkan_fallback_binary(std::nullopt, path_only, std::nullopt), std::nullopt);
  EXPECT_EQ(vulkan_fallback_binary(std::nullopt, path_only, vulkan), vulkan);
}

}  // namespace
}  // namespace inference::rocm
