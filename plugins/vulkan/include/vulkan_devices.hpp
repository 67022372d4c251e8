// The Vulkan devices a llama-server binary can use, found by asking the binary itself
// (server_devices.hpp) once per Vulkan physical-device index: with GGML_VK_VISIBLE_DEVICES=i it
// lists device i alone (ggml then calls it Vulkan0), and an index past the last device lists
// none. Probing one index at a time makes the index a user passes as LoadOptions.device exactly
// the value the server is pinned with, and shows software devices, which ggml skips unless they
// are listed in GGML_VK_VISIBLE_DEVICES.
//
// Ownership: plain values. Thread-safety: safe from any thread (the probes are the engine's,
// cached per binary and environment). Cancellation: the probes block their caller, each bounded
// by kVersionProbeTimeout.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "inference/llama_server/server_devices.hpp"

namespace inference::vulkan {

// ggml-vulkan's device-selection variable: a comma-separated list of Vulkan physical-device indices.
inline constexpr std::string_view kVisibleDevicesVariable = "GGML_VK_VISIBLE_DEVICES";
// Indices probed at most; a machine has a handful of GPUs, and each probe costs ~170 ms once.
inline constexpr int kMaxVulkanDevices = 16;
// ggml's backend name for Vulkan (server_devices.hpp: ServerDevice::runtime()).
inline constexpr std::string_view kVulkanRuntime = "Vulkan";

// Runs the device probe: probe_server_devices_blocking() in production, a fake in unit tests.
using DeviceProbe = std::function<llama_server::ServerDeviceList(
    const std::filesystem::path& binary, const llama_server::ProbeEnvironment& environment, bool cached)>;
DeviceProbe real_device_probe();

struct VulkanDevice {
  int index = 0;  // the Vulkan physical-device index: GGML_VK_VISIBLE_DEVICES, LoadOptions.device
  // As listed, renamed "Vulkan<index>" (the server itself, pinned, calls it Vulkan0).
  llama_server::ServerDevice device;
};

struct VulkanInventory {
  std::filesystem::path binary;
  std::vector<std::string> loaded_backends;  // what the binary's ggml loaded (first probe)
  bool has_runtime = false;                  // its ggml has a Vulkan backend at all
  std::vector<VulkanDevice> devices;         // by index, from 0 up to the first index without one
};

// Probes indices 0, 1, … (at most kMaxVulkanDevices) until one lists no Vulkan device.
// `cached` as probe_server_devices_blocking(). Throws what the probe throws
// (Error(child_start_failed) when the binary cannot run or prints no device list).
VulkanInventory enumerate_vulkan_devices(const std::filesystem::path& binary, const DeviceProbe& probe,
                                         bool cached = true);

// One device probed afresh (uncached), for its current free memory. Throws
// Error(backend_unavailable) when the index lists no device any more.
VulkanDevice probe_vulkan_device(const std::filesystem::path& binary, int index, const DeviceProbe& probe);

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
