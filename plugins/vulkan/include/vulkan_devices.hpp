// Choosing and describing the Vulkan devices a llama-server binary can use; the inventory
// itself (one probe per physical-device index) is the engine's (vulkan_device_inventory.hpp),
// shared with the rocm backend's runtime=vulkan.
//
// Ownership: plain values. Thread-safety: pure functions, safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "inference/llama_server/vulkan_device_inventory.hpp"

namespace inference::vulkan {

using llama_server::DeviceProbe;
using llama_server::enumerate_vulkan_devices;
using llama_server::kMaxVulkanDevices;
using llama_server::kVulkanRuntime;
using llama_server::probe_vulkan_device;
using llama_server::real_device_probe;
using llama_server::VulkanDevice;
using llama_server::VulkanInventory;
// ggml-vulkan's device-selection variable: a comma-separated list of Vulkan physical-device indices.
inline constexpr std::string_view kVisibleDevicesVariable = llama_server::kVulkanVisibleDevicesVariable;

// The device a load runs on: `requested` (LoadOptions.device) when >= 0, else the usable device
// with the most free memory (lowest index on ties); software devices are usable only with
// allow_software. Throws Error(backend_unavailable) saying which when the binary has no Vulkan
// runtime ("<binary> has no Vulkan support (its ggml loaded: CPU)"), its runtime sees no device,
// or every device is a software renderer that is not allowed (naming it and the option);
// Error(invalid_argument) for a requested index the binary does not list.
const VulkanDevice& choose_device(const VulkanInventory& inventory, int requested, bool allow_software);

// Each device of the inventory as Availability::devices shows it, "Vulkan0: llvmpipe (…)
// (24105 MiB, 23433 MiB free), software".
std::vector<std::string> describe_devices(const VulkanInventory& inventory);

}  // namespace inference::vulkan
