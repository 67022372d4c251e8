#include "device_environment.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include "inference/error.hpp"

namespace inference::rocm {
namespace {

std::vector<std::string> entries_named(const std::vector<std::string>& env, std::string_view name) {
  std::vector<std::string> found;
  const std::string prefix = std::string(name) + "=";
  std::copy_if(env.begin(), env.end(), std::back_inserter(found),
               [&](const std::string& entry) { return entry.starts_with(prefix); });
  return found;
}

TEST(DeviceEnvironment, ParentSelectionVariablesAreReplacedByExactlyOneHipVisibleDevices) {
  llama_server::LaunchSpec spec;
  pin_device(spec, 0, std::nullopt);
  const std::vector<std::string> parent = {
      "PATH=/usr/bin",          "HIP_VISIBLE_DEVICES=1,0", "ROCR_VISIBLE_DEVICES=0,1",
      "CUDA_VISIBLE_DEVICES=1", "GPU_DEVICE_ORDINAL=1",    "HIP_VISIBLE_DEVICES=1"};
  const auto env = llama_server::build_server_environment(spec, parent, "key");
  EXPECT_EQ(entries_named(env, "HIP_VISIBLE_DEVICES"), std::vector<std::string>{"HIP_VISIBLE_DEVICES=0"});
  EXPECT_TRUE(entries_named(env, "ROCR_VISIBLE_DEVICES").empty());
  EXPECT_TRUE(entries_named(env, "CUDA_VISIBLE_DEVICES").empty());
  EXPECT_TRUE(entries_named(env, "GPU_DEVICE_ORDINAL").empty());
  EXPECT_EQ(entries_named(env, "PATH").size(), 1u);
}

TEST(DeviceEnvironment, UserHsaOverrideIsInheritedUnlessTheOptionSetsOne) {
  const std::vector<std::string> parent = {"HSA_OVERRIDE_GFX_VERSION=11.0.0"};
  llama_server::LaunchSpec inherited;
  pin_device(inherited, 1, std::nullopt);
  EXPECT_EQ(entries_named(llama_server::build_server_environment(inherited, parent, "k"), "HSA_OVERRIDE_GFX_VERSION"),
            std::vector<std::string>{"HSA_OVERRIDE_GFX_VERSION=11.0.0"});
  llama_server::LaunchSpec overridden;
  pin_device(overridden, 1, std::string("11.0.1"));
  EXPECT_EQ(entries_named(llama_server::build_server_environment(overridden, parent, "k"), "HSA_OVERRIDE_GFX_VERSION"),
            std::vector<std::string>{"HSA_OVERRIDE_GFX_VERSION=11.0.1"});
}

TEST(DeviceEnvironment, PinningTwiceKeepsOneSettingAndOtherEdits) {
  llama_server::LaunchSpec spec;
  spec.environment_set.emplace_back("HIP_VISIBLE_DEVICES", "3");
  spec.environment_set.emplace_back("OTHER", "x");
  pin_device(spec, 1, std::nullopt);
  pin_device(spec, 2, std::nullopt);
  const auto env = llama_server::build_server_environment(spec, {}, "k");
  EXPECT_EQ(entries_named(env, "HIP_VISIBLE_DEVICES"), std::vector<std::string>{"HIP_VISIBLE_DEVICES=2"});
  EXPECT_EQ(entries_named(env, "OTHER").size(), 1u);
}

TEST(DeviceEnvironment, RejectsBadIndexAndGfxVersion) {
  llama_server::LaunchSpec spec;
  EXPECT_THROW(pin_device(spec, -1, std::nullopt), Error);
  EXPECT_THROW(pin_device(spec, 0, std::string("gfx1100")), Error);
  EXPECT_TRUE(valid_gfx_version("11.0.0"));
  EXPECT_FALSE(valid_gfx_version("11.0"));
  EXPECT_FALSE(valid_gfx_version("11..0"));
  EXPECT_FALSE(valid_gfx_version("11.0.0.1"));
}

}  // namespace
}  // namespace inference::rocm
