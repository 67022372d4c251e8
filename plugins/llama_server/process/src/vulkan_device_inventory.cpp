#include "inference/llama_server/vulkan_device_inventory.hpp"

#include "inference/error.hpp"

namespace inference::llama_server {

namespace {

ProbeEnvironment visible(int index) { return {{std::string(kVulkanVisibleDevicesVariable), std::to_string(index)}}; }

VulkanDevice indexed(int index, ServerDevice listed) {
  VulkanDevice device;
  device.index = index;
  device.device = std::move(listed);
  device.device.name = std::string(kVulkanRuntime) + std::to_string(index);
  return device;
}

}  // namespace

DeviceProbe real_device_probe() {
  return [](const std::filesystem::path& binary, const ProbeEnvironment& environment, bool cached) {
    return probe_server_devices_blocking(binary, environment, cached);
  };
}

VulkanInventory enumerate_vulkan_devices(const std::filesystem::path& binary, const DeviceProbe& probe, bool cached) {
  VulkanInventory inventory;
  inventory.binary = binary;
  for (int index = 0; index < kMaxVulkanDevices; ++index) {
    const ServerDeviceList list = probe(binary, visible(index), cached);
    if (index == 0) inventory.loaded_backends = list.loaded_backends;
    inventory.has_runtime = inventory.has_runtime || list.has_runtime(kVulkanRuntime);
    const std::vector<ServerDevice> listed = list.devices_of(kVulkanRuntime);
    if (listed.empty()) break;
    inventory.devices.push_back(indexed(index, listed.front()));
  }
  return inventory;
}

VulkanDevice probe_vulkan_device(const std::filesystem::path& binary, int index, const DeviceProbe& probe) {
  const std::vector<ServerDevice> listed = probe(binary, visible(index), /*cached=*/false).devices_of(kVulkanRuntime);
  if (listed.empty()) {
    throw Error(errc::backend_unavailable,
                "Vulkan device " + std::to_string(index) + " of " + binary.string() + " is no longer listed");
  }
  return indexed(index, listed.front());
}

}  // namespace inference::llama_server
