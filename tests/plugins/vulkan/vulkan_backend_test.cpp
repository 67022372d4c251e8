// The vulkan backend's availability with the real binaries: the Vulkan build on lavapipe is
// available only when software devices are allowed (and says why not otherwise), the CPU build
// is refused as having no Vulkan support, and the plugin registers "vulkan" between rocm and
// llama_cpp. Skipped, saying why, without the Vulkan build.
#include "vulkan_backend.hpp"

#include <gtest/gtest.h>

#include "inference/registry.hpp"
#include "lavapipe.hpp"
#include "support/test_inputs.hpp"

namespace inference::vulkan {
namespace {

using test::lavapipe_options;

TEST(VulkanBackendTest, AvailableOnLavapipeWhenSoftwareDevicesAreAllowedListingItsMemory) {
  SKIP_WITHOUT_LAVAPIPE();
  const VulkanBackend backend;
  const Availability availability = backend.available_with(lavapipe_options(1, 0));
  EXPECT_TRUE(availability.available) << availability.reason;
  EXPECT_EQ(availability.executable, test::vulkan_server()->string());
  ASSERT_EQ(availability.devices.size(), 1U);
  EXPECT_EQ(availability.devices[0].rfind("Vulkan0: llvmpipe (", 0), 0U) << availability.devices[0];
  EXPECT_NE(availability.devices[0].find(" MiB free), software"), std::string::npos) << availability.devices[0];
}

TEST(VulkanBackendTest, UnavailableOnLavapipeWithoutTheOptionNamingTheSoftwareRendererAndTheOption) {
  SKIP_WITHOUT_LAVAPIPE();
  const VulkanBackend backend;
  LoadOptions options = lavapipe_options(1, 0);
  options.backend_options["allow_software_device"] = "0";
  const Availability availability = backend.available_with(options);
  EXPECT_FALSE(availability.available);
  EXPECT_EQ(availability.reason.rfind("the only Vulkan device is llvmpipe (", 0), 0U) << availability.reason;
  EXPECT_NE(availability.reason.find("a software renderer on the CPU: set backend option allow_software_device=1"),
            std::string::npos)
      << availability.reason;
  EXPECT_EQ(availability.devices.size(), 1U) << "the device is listed even when it may not be used";
}

TEST(VulkanBackendTest, TheCpuBuildIsRefusedAsHavingNoVulkanSupport) {
  const std::filesystem::path cpu = inference::test::llama_server_for_tests();
  if (::access(cpu.c_str(), X_OK) != 0) GTEST_SKIP() << "no executable llama-server at '" << cpu.string() << "'";
  const VulkanBackend backend;
  LoadOptions options;
  options.backend_options["server_path"] = cpu.string();
  options.backend_options["allow_software_device"] = "1";
  const Availability availability = backend.available_with(options);
  EXPECT_FALSE(availability.available);
  EXPECT_EQ(availability.reason, cpu.string() + " has no Vulkan support (its ggml loaded: CPU)");
  EXPECT_TRUE(availability.devices.empty());
}

TEST(VulkanBackendTest, ThePluginRegistersVulkanBetweenRocmAndLlamaCpp) {
  Registry registry;
  registry.load_plugin(VULKAN_TEST_PLUGIN_FILE);
  const std::shared_ptr<Backend> backend = registry.get("vulkan");
  ASSERT_NE(backend, nullptr);
  EXPECT_EQ(backend->priority(), 150);
  EXPECT_LT(backend->priority(), 200) << "rocm";
  EXPECT_GT(backend->priority(), 100) << "llama_cpp";
}

}  // namespace
}  // namespace inference::vulkan
