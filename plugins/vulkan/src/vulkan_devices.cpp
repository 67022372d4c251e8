#include "vulkan_devices.hpp"

#include <algorithm>

#include "inference/error.hpp"
#include "vulkan_options.hpp"

namespace inference::vulkan {

namespace {

std::string joined(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (const std::string& item : items) out += (out.empty() ? "" : std::string(separator)) + item;
  return out;
}

std::string hint(bool plural) {
  return std::string(": set backend option ") + std::string(kAllowSoftwareOption) + "=1 (or " +
         std::string(kAllowSoftwareVariable) + "=1) to use " + (plural ? "them" : "it");
}

// Why no device of the inventory can be used, for the cases choose_device() refuses.
Error unusable(const VulkanInventory& inventory) {
  const std::string binary = inventory.binary.string();
  if (!inventory.has_runtime) {
    const std::string loaded = inventory.loaded_backends.empty() ? "nothing" : joined(inventory.loaded_backends, ", ");
    return Error(errc::backend_unavailable, binary + " has no Vulkan support (its ggml loaded: " + loaded + ")");
  }
  if (inventory.devices.empty()) {
    return Error(errc::backend_unavailable, "the Vulkan runtime of " + binary + " sees no device");
  }
  if (inventory.devices.size() == 1) {
    return Error(errc::backend_unavailable, "the only Vulkan device is " + inventory.devices[0].device.description +
                                                ", a software renderer on the CPU" + hint(false));
  }
  std::vector<std::string> names;
  for (const VulkanDevice& device : inventory.devices) names.push_back(device.device.description);
  return Error(errc::backend_unavailable,
               "every Vulkan device is a software renderer on the CPU (" + joined(names, "; ") + ")" + hint(true));
}

}  // namespace

const VulkanDevice& choose_device(const VulkanInventory& inventory, int requested, bool allow_software) {
  if (requested >= 0 && inventory.has_runtime && !inventory.devices.empty()) {
    const auto it = std::find_if(inventory.devices.begin(), inventory.devices.end(),
                                 [&](const VulkanDevice& device) { return device.index == requested; });
    if (it == inventory.devices.end()) {
      throw Error(errc::invalid_argument, "device " + std::to_string(requested) + " is not a Vulkan device of " +
                                              inventory.binary.string() +
                                              "; it lists: " + joined(describe_devices(inventory), "; "));
    }
    if (it->device.software() && !allow_software) {
      throw Error(errc::backend_unavailable,
                  it->device.name + " is " + it->device.description + ", a software renderer on the CPU" + hint(false));
    }
    return *it;
  }
  const VulkanDevice* best = nullptr;
  for (const VulkanDevice& device : inventory.devices) {
    if (device.device.software() && !allow_software) continue;
    if (best == nullptr || device.device.free_mib > best->device.free_mib) best = &device;
  }
  if (best == nullptr || !inventory.has_runtime) throw unusable(inventory);
  return *best;
}

std::vector<std::string> describe_devices(const VulkanInventory& inventory) {
  std::vector<std::string> lines;
  for (const VulkanDevice& device : inventory.devices) {
    lines.push_back(device.device.describe() + (device.device.software() ? ", software" : ""));
  }
  return lines;
}

}  // namespace inference::vulkan
