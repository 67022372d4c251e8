// Device enumeration and choice with a fake probe: indices probed until one lists nothing, each
// device named by its Vulkan index, and the reasons a binary's devices cannot be used (no Vulkan
// runtime, no device, only a software renderer that is not allowed).
#include "vulkan_devices.hpp"

#include <gtest/gtest.h>

#include "fake_device_probe.hpp"
#include "inference/error.hpp"

namespace inference::vulkan {
namespace {

using test::FakeDeviceProbe;

const std::filesystem::path kBinary = "/opt/llama/llama-server-vulkan";
constexpr std::string_view kLavapipe = "llvmpipe (LLVM 21.1.8, 256 bits)";

// The message choose_device() refuses with (without the code's name), or "" when it chose.
std::string refusal(const VulkanInventory& inventory, int requested, bool allow_software) {
  try {
    (void)choose_device(inventory, requested, allow_software);
    return "";
  } catch (const Error& e) {
    return e.context();
  }
}

TEST(VulkanDevicesTest, IndicesAreProbedUntilOneListsNothingAndNamedByTheirIndex) {
  FakeDeviceProbe fake;
  fake.add("AMD Radeon RX 7800 XT (RADV NAVI32)", 16368, 15000);
  fake.add(std::string(kLavapipe), 24105, 23106);
  const VulkanInventory inventory = enumerate_vulkan_devices(kBinary, fake.probe());
  ASSERT_EQ(inventory.devices.size(), 2U);
  EXPECT_EQ(fake.state->probes, 3);
  EXPECT_EQ(inventory.devices[1].index, 1);
  EXPECT_EQ(inventory.devices[1].device.name, "Vulkan1");
  EXPECT_TRUE(inventory.has_runtime);
  EXPECT_EQ(
      describe_devices(inventory),
      (std::vector<std::string>{"Vulkan0: AMD Radeon RX 7800 XT (RADV NAVI32) (16368 MiB, 15000 MiB free)",
                                "Vulkan1: llvmpipe (LLVM 21.1.8, 256 bits) (24105 MiB, 23106 MiB free), software"}));
}

TEST(VulkanDevicesTest, EnumerationIsBounded) {
  FakeDeviceProbe fake;
  for (int i = 0; i < 2 * kMaxVulkanDevices; ++i) fake.add("card", 100, 50);
  EXPECT_EQ(enumerate_vulkan_devices(kBinary, fake.probe()).devices.size(),
            static_cast<std::size_t>(kMaxVulkanDevices));
}

TEST(VulkanDevicesTest, ABinaryWithoutTheVulkanRuntimeSaysWhatItsGgmlLoaded) {
  FakeDeviceProbe fake;
  fake.state->loaded_backends = {"CPU"};
  const VulkanInventory inventory = enumerate_vulkan_devices(kBinary, fake.probe());
  EXPECT_EQ(refusal(inventory, -1, true), kBinary.string() + " has no Vulkan support (its ggml loaded: CPU)");
}

TEST(VulkanDevicesTest, ARuntimeThatSeesNoDeviceSaysSo) {
  FakeDeviceProbe fake;
  const VulkanInventory inventory = enumerate_vulkan_devices(kBinary, fake.probe());
  EXPECT_EQ(refusal(inventory, -1, true), "the Vulkan runtime of " + kBinary.string() + " sees no device");
}

TEST(VulkanDevicesTest, TheOnlySoftwareDeviceIsRefusedUnlessAllowedNamingTheOption) {
  FakeDeviceProbe fake;
  fake.add(std::string(kLavapipe), 24105, 23106);
  const VulkanInventory inventory = enumerate_vulkan_devices(kBinary, fake.probe());
  EXPECT_EQ(refusal(inventory, -1, false),
            "the only Vulkan device is llvmpipe (LLVM 21.1.8, 256 bits), a software renderer on the CPU: set backend "
            "option allow_software_device=1 (or INFERENCE_VULKAN_ALLOW_SOFTWARE=1) to use it");
  EXPECT_NE(refusal(inventory, 0, false).find("Vulkan0 is llvmpipe"), std::string::npos);
  EXPECT_EQ(choose_device(inventory, -1, true).index, 0);
}

TEST(VulkanDevicesTest, TheAllowedDeviceWithTheMostFreeMemoryIsChosenUnlessOneIsAsked) {
  FakeDeviceProbe fake;
  fake.add("Intel(R) Graphics (ADL GT2)", 8000, 4000);
  fake.add(std::string(kLavapipe), 24105, 23106);
  fake.add("AMD Radeon RX 7800 XT (RADV NAVI32)", 16368, 15000);
  const VulkanInventory inventory = enumerate_vulkan_devices(kBinary, fake.probe());
  EXPECT_EQ(choose_device(inventory, -1, false).index, 2) << "lavapipe has more memory but is not allowed";
  EXPECT_EQ(choose_device(inventory, -1, true).index, 1);
  EXPECT_EQ(choose_device(inventory, 0, false).index, 0);
  const std::string unknown = refusal(inventory, 7, true);
  EXPECT_NE(unknown.find("device 7 is not a Vulkan device of " + kBinary.string()), std::string::npos) << unknown;
  EXPECT_NE(unknown.find("Vulkan2: AMD Radeon RX 7800 XT"), std::string::npos) << unknown;
}

TEST(VulkanDevicesTest, AFreshProbeOfOneDeviceBypassesTheCache) {
  FakeDeviceProbe fake;
  fake.add(std::string(kLavapipe), 24105, 23106);
  const VulkanDevice device = probe_vulkan_device(kBinary, 0, fake.probe());
  EXPECT_EQ(device.device.free_mib, 23106U);
  EXPECT_EQ(fake.state->uncached_probes, 1);
  try {
    (void)probe_vulkan_device(kBinary, 3, fake.probe());
    ADD_FAILURE() << "a device that is not listed was probed";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::backend_unavailable)) << e.what();
  }
}

}  // namespace
}  // namespace inference::vulkan
