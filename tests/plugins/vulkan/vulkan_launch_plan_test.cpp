// The launch plan with a fake device probe and a model described by hand: options, binary lookup
// order, the fit check against the device's fresh free memory (capped by memory_limit_mib), the
// context chosen when none is asked, pinning, and replicas refused.
#include "vulkan_launch_plan.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "fake_device_probe.hpp"
#include "inference/error.hpp"
#include "support/scratch_directory.hpp"

namespace inference::vulkan {
namespace {

using test::FakeDeviceProbe;
namespace fs = std::filesystem;

// An executable that exists: plans only stat() the binary, the fake probe never runs it.
constexpr std::string_view kServer = "/bin/true";

// An 8B-shaped model: 32 layers, 4.5 GB of weights, 131072 tokens of training context.
ModelInfo eight_b() {
  ModelInfo model;
  model.path = "llama-8b.gguf";
  model.context_length = 131072;
  model.block_count = 32;
  model.embedding_length = 4096;
  model.head_count = 32;
  model.head_count_kv = 8;
  model.tensor_bytes = 4'500ull << 20;
  return model;
}

llama_server::EnvLookup environment(std::map<std::string, std::string> variables) {
  return [variables](std::string_view name) -> std::optional<std::string> {
    const auto it = variables.find(std::string(name));
    if (it == variables.end()) return std::nullopt;
    return it->second;
  };
}

LoadOptions options_with(std::map<std::string, std::string> backend_options) {
  LoadOptions options;
  options.backend_options = std::move(backend_options);
  options.backend_options["server_path"] = std::string(kServer);
  return options;
}

std::string refusal(const ModelInfo& model, const LoadOptions& options, const FakeDeviceProbe& fake, errc expected) {
  try {
    (void)plan_vulkan_launches(model, options, environment({}), fake.probe());
    return "";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(expected)) << e.what();
    return e.what();
  }
}

FakeDeviceProbe one_card(std::uint64_t free_mib) {
  FakeDeviceProbe fake;
  fake.add("AMD Radeon RX 7800 XT (RADV NAVI32)", 16368, free_mib);
  return fake;
}

TEST(VulkanOptionsTest, BadValuesAreRefusedNamingTheKey) {
  const auto env = environment({});
  EXPECT_THROW((void)parse_vulkan_options({{"allow_software_device", "yes"}}, env), Error);
  EXPECT_THROW((void)parse_vulkan_options({{"memory_limit_mib", "0"}}, env), Error);
  EXPECT_THROW((void)parse_vulkan_options({{"memory_limit_mib", "12x"}}, env), Error);
  try {
    (void)parse_vulkan_options({{"memory_limit_mib", "-5"}}, env);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("memory_limit_mib"), std::string::npos) << e.what();
  }
  EXPECT_EQ(parse_vulkan_options({{"memory_limit_mib", "512"}}, env).memory_limit_mib, 512U);
}

TEST(VulkanOptionsTest, SoftwareDevicesAreAllowedByTheOptionOrTheVariableAndTheOptionWins) {
  EXPECT_FALSE(parse_vulkan_options({}, environment({})).allow_software);
  EXPECT_TRUE(parse_vulkan_options({}, environment({{"INFERENCE_VULKAN_ALLOW_SOFTWARE", "1"}})).allow_software);
  EXPECT_TRUE(parse_vulkan_options({{"allow_software_device", "1"}}, environment({})).allow_software);
  EXPECT_FALSE(
      parse_vulkan_options({{"allow_software_device", "0"}}, environment({{"INFERENCE_VULKAN_ALLOW_SOFTWARE", "1"}}))
          .allow_software);
}

TEST(VulkanOptionsTest, TheBinaryComesFromTheOptionThenTheVariableThenTheConfiguredVulkanBuild) {
  const inference::test::ScratchDirectory scratch("vulkan-binary-test");
  const auto make = [&](const std::string& name) {
    const fs::path path = scratch / name;
    std::ofstream(path) << "#!/bin/sh\n";
    fs::permissions(path, fs::perms::owner_all);
    return path;
  };
  const fs::path option = make("from-option");
  const fs::path variable = make("from-variable");
  const fs::path configured = make("llama-server-vulkan");
  const fs::path generic = make("from-llama-server-path");
  const auto env =
      environment({{"VULKAN_LLAMA_SERVER_PATH", variable.string()}, {"LLAMA_SERVER_PATH", generic.string()}});
  EXPECT_EQ(find_vulkan_server_binary(option, env, configured), option);
  EXPECT_EQ(find_vulkan_server_binary(std::nullopt, env, configured), variable);
  const auto without_variable = environment({{"LLAMA_SERVER_PATH", generic.string()}});
  EXPECT_EQ(find_vulkan_server_binary(std::nullopt, without_variable, configured), configured);
  EXPECT_EQ(find_vulkan_server_binary(std::nullopt, without_variable, std::nullopt), generic);
  const auto broken = environment({{"VULKAN_LLAMA_SERVER_PATH", (scratch / "missing").string()}});
  try {
    (void)find_vulkan_server_binary(std::nullopt, broken, configured);
    ADD_FAILURE() << "an unusable VULKAN_LLAMA_SERVER_PATH fell back to another binary";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("VULKAN_LLAMA_SERVER_PATH"), std::string::npos) << e.what();
  }
}

TEST(VulkanLaunchPlanTest, WithoutContextLenTheLargestContextThatFitsIsChosenAndSaysWhy) {
  const FakeDeviceProbe fake = one_card(16000);
  const VulkanLaunchPlan plan = plan_vulkan_launches(eight_b(), options_with({}), environment({}), fake.probe()).at(0);
  EXPECT_EQ(plan.device.index, 0);
  EXPECT_GE(plan.context_per_slot, llama_server::kMinChosenContextPerSlot);
  EXPECT_LT(plan.context_per_slot, 131072U);
  EXPECT_TRUE(plan.fit.fits());
  EXPECT_NE(plan.context_reason.find("the most that fits Vulkan0: AMD Radeon RX 7800 XT (RADV NAVI32)"),
            std::string::npos)
      << plan.context_reason;
  EXPECT_EQ(fake.state->uncached_probes, 1) << "the free memory must come from a fresh probe";
  EXPECT_EQ(serving_device(plan), "Vulkan0: AMD Radeon RX 7800 XT (RADV NAVI32)");
}

TEST(VulkanLaunchPlanTest, AnExplicitContextThatDoesNotFitIsRefusedWithTheNumbers) {
  LoadOptions options = options_with({});
  options.context_len = 131072 / 4;
  const std::string message = refusal(eight_b(), options, one_card(16000), errc::invalid_argument);
  EXPECT_NE(message.find("llama-8b.gguf needs "), std::string::npos) << message;
  EXPECT_NE(message.find("for 131072 tokens"), std::string::npos) << message;
  EXPECT_NE(message.find("but Vulkan0: AMD Radeon RX 7800 XT (RADV NAVI32) has 16000 MiB free"), std::string::npos)
      << message;
}

TEST(VulkanLaunchPlanTest, MemoryLimitCapsTheFreeMemoryAndIsNamed) {
  LoadOptions options = options_with({{"memory_limit_mib", "4000"}});
  options.context_len = 4096;
  const std::string message = refusal(eight_b(), options, one_card(16000), errc::invalid_argument);
  EXPECT_NE(message.find("(memory_limit_mib=4000) has 4000 MiB free"), std::string::npos) << message;
  options.backend_options["memory_limit_mib"] = "8000";
  const VulkanLaunchPlan plan =
      plan_vulkan_launches(eight_b(), options, environment({}), one_card(16000).probe()).at(0);
  EXPECT_EQ(plan.usable_bytes, 8000ull << 20);
  EXPECT_EQ(plan.context_per_slot, 4096U);
  EXPECT_NE(plan.context_reason.find("as asked (context_len)"), std::string::npos) << plan.context_reason;
}

// Two cards and lavapipe: the RX 7800 XT (15000 MiB free) and an Arc (7000 MiB free).
FakeDeviceProbe two_cards_and_lavapipe() {
  FakeDeviceProbe fake;
  fake.add("AMD Radeon RX 7800 XT (RADV NAVI32)", 16368, 15000);
  fake.add("llvmpipe (LLVM 21.1.8, 256 bits)", 24105, 23106);
  fake.add("Intel(R) Arc(tm) A750 Graphics (DG2)", 8000, 7000);
  return fake;
}

std::vector<int> indices(const std::vector<VulkanLaunchPlan>& plans) {
  std::vector<int> out;
  for (const VulkanLaunchPlan& plan : plans) out.push_back(plan.device.index);
  return out;
}

TEST(VulkanLaunchPlanTest, TheDevicesOptionGivesOneReplicaPerDeviceSharingTheSmallestChosenContext) {
  const FakeDeviceProbe fake = two_cards_and_lavapipe();
  const auto plans = plan_vulkan_launches(eight_b(), options_with({{"devices", "2,0"}}), environment({}), fake.probe());
  EXPECT_EQ(indices(plans), (std::vector<int>{2, 0}));
  ASSERT_EQ(plans.size(), 2U);
  // The Arc's 7000 MiB choose the smaller context; the 7800 XT runs the same.
  const auto arc_alone =
      plan_vulkan_launches(eight_b(), options_with({{"devices", "2"}}), environment({}), fake.probe());
  EXPECT_EQ(plans[1].context_per_slot, arc_alone.at(0).context_per_slot);
  EXPECT_EQ(plans[0].context_per_slot, plans[1].context_per_slot);
  EXPECT_TRUE(plans[1].fit.fits());
  EXPECT_NE(plans[1].context_reason.find("the smallest of 2 replicas' devices"), std::string::npos)
      << plans[1].context_reason;
}

TEST(VulkanLaunchPlanTest, ReplicasWithoutDevicesTakeTheRoomiestAllowedDevices) {
  const FakeDeviceProbe fake = two_cards_and_lavapipe();
  EXPECT_EQ(indices(plan_vulkan_launches(eight_b(), options_with({{"replicas", "2"}}), environment({}), fake.probe())),
            (std::vector<int>{0, 2}))
      << "lavapipe has the most memory but is not allowed";
  const std::string too_many = refusal(eight_b(), options_with({{"replicas", "3"}}), fake, errc::invalid_argument);
  EXPECT_NE(too_many.find("replicas=3 needs 3 usable Vulkan devices, found 2 among: Vulkan0: AMD"), std::string::npos)
      << too_many;
}

TEST(VulkanLaunchPlanTest, ReplicasAndDevicesMustAgreeAndADeviceIsNamedOnce) {
  const FakeDeviceProbe fake = two_cards_and_lavapipe();
  const std::string disagree =
      refusal(eight_b(), options_with({{"replicas", "3"}, {"devices", "0,2"}}), fake, errc::invalid_argument);
  EXPECT_NE(disagree.find("replicas=3 and devices (2 devices) disagree"), std::string::npos) << disagree;
  const std::string twice = refusal(eight_b(), options_with({{"devices", "0,0"}}), fake, errc::invalid_argument);
  EXPECT_NE(twice.find("devices=0,0: Vulkan device 0 is named twice"), std::string::npos) << twice;
  const std::string software = refusal(eight_b(), options_with({{"devices", "0,1"}}), fake, errc::backend_unavailable);
  EXPECT_NE(software.find("Vulkan1 is llvmpipe"), std::string::npos) << software;
}

TEST(VulkanLaunchPlanTest, ThePlanPinsTheDeviceByItsIndexWithAllLayers) {
  FakeDeviceProbe fake;
  fake.add("Intel(R) Graphics (ADL GT2)", 8000, 4000);
  fake.add("AMD Radeon RX 7800 XT (RADV NAVI32)", 16368, 15000);
  const VulkanLaunchPlan plan = plan_vulkan_launches(eight_b(), options_with({}), environment({}), fake.probe()).at(0);
  llama_server::LaunchSpec spec;
  spec.environment_set.emplace_back("GGML_VK_VISIBLE_DEVICES", "0");
  apply_vulkan_plan(plan, spec);
  EXPECT_EQ(spec.environment_set, (std::vector<std::pair<std::string, std::string>>{{"GGML_VK_VISIBLE_DEVICES", "1"}}));
  EXPECT_EQ(spec.gpu_layers, llama_server::kAllGpuLayers);
}

}  // namespace
}  // namespace inference::vulkan
