// The device probe against the real binaries: the CPU-only llama-server lists no device and
// loaded only the CPU backend; the Vulkan build (scripts/setup --gpu vulkan) lists lavapipe when
// GGML_VK_VISIBLE_DEVICES names it, and has the Vulkan runtime even when the index is past the
// last device. Skipped, saying why, where a binary is not installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>

#include "inference/llama_server/server_binary.hpp"
#include "inference/llama_server/server_devices.hpp"
#include "support/test_inputs.hpp"

namespace inference::llama_server {
namespace {

namespace fs = std::filesystem;

bool executable(const fs::path& binary) { return !binary.empty() && ::access(binary.c_str(), X_OK) == 0; }

#define SKIP_WITHOUT_VULKAN_BUILD(binary)                                                                          \
  do {                                                                                                             \
    if (!(binary)) {                                                                                               \
      GTEST_SKIP() << "no Vulkan llama-server (llama-server-vulkan next to the configured one; run scripts/setup " \
                      "--gpu vulkan)";                                                                             \
    }                                                                                                              \
  } while (false)

TEST(ServerDevicesProbeTest, TheCpuBuildListsNoDeviceAndLoadedOnlyTheCpuBackend) {
  const fs::path binary = inference::test::llama_server_for_tests();
  if (!executable(binary)) GTEST_SKIP() << "no executable llama-server at '" << binary.string() << "'";
  const ServerDeviceList list = probe_server_devices_blocking(binary, {}, /*cached=*/false);
  EXPECT_TRUE(list.devices.empty());
  EXPECT_NE(std::find(list.loaded_backends.begin(), list.loaded_backends.end(), "CPU"), list.loaded_backends.end());
  EXPECT_FALSE(list.has_runtime("Vulkan"));
}

TEST(ServerDevicesProbeTest, TheVulkanBuildListsLavapipeWithItsMemoryWhenItIsMadeVisible) {
  const auto binary = configured_runtime_server_binary("vulkan");
  SKIP_WITHOUT_VULKAN_BUILD(binary);
  const ServerDeviceList list = probe_server_devices_blocking(*binary, {{"GGML_VK_VISIBLE_DEVICES", "0"}}, false);
  ASSERT_EQ(list.devices.size(), 1U) << "devices listed";
  const ServerDevice& device = list.devices[0];
  EXPECT_EQ(device.name, "Vulkan0");
  EXPECT_EQ(device.runtime(), "Vulkan");
  EXPECT_EQ(device.description.rfind("llvmpipe", 0), 0U) << device.description;
  EXPECT_TRUE(device.software());
  EXPECT_GT(device.total_mib, 0U);
  EXPECT_GT(device.free_mib, 0U);
  EXPECT_LE(device.free_mib, device.total_mib);
  EXPECT_TRUE(list.has_runtime("Vulkan"));
}

TEST(ServerDevicesProbeTest, AnIndexPastTheLastDeviceListsNoneButTheRuntimeIsThere) {
  const auto binary = configured_runtime_server_binary("vulkan");
  SKIP_WITHOUT_VULKAN_BUILD(binary);
  const ServerDeviceList list = probe_server_devices_blocking(*binary, {{"GGML_VK_VISIBLE_DEVICES", "15"}}, false);
  EXPECT_TRUE(list.devices.empty());
  EXPECT_TRUE(list.has_runtime("Vulkan"));
}

}  // namespace
}  // namespace inference::llama_server
