// The Vulkan devices a llama-server binary can use, found by asking the binary itself
// (server_devices.hpp) once per Vulkan physical-device index: with GGML_VK_VISIBLE_DEVICES=i it
// lists device i alone (ggml then calls it Vulkan0), and an index past the last device lists
// none. Probing one index at a time makes an index exactly the value a server is pinned with, and
// shows software devices, which ggml skips unless they are listed in GGML_VK_VISIBLE_DEVICES.
// Shared by the vulkan backend and the rocm backend's runtime=vulkan.
//
// Ownership: plain values. Thread-safety: safe from any thread (the probes are cached per binary
// and environment). Cancellation: the probes block their caller, each bounded by
// kVersionProbeTimeout.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "inference/llama_server/server_devices.hpp"

namespace inference::llama_server {

// ggml-vulkan's device-selection variable: a comma-separated list of Vulkan physical-device indices.
inline constexpr std::string_view kVulkanVisibleDevicesVariable = "GGML_VK_VISIBLE_DEVICES";
// Indices probed at most; a machine has a handful of GPUs, and each probe costs ~170 ms once.
inline constexpr int kMaxVulkanDevices = 16;
// ggml's backend name for Vulkan (ServerDevice::runtime()).
inline constexpr std::string_view kVulkanRuntime = "Vulkan";

// Runs the device probe: probe_server_devices_blocking() in production, a fake in unit tests.
using DeviceProbe = std::function<ServerDeviceList(const std::filesystem::path& binary,
                                                   const ProbeEnvironment& environment, bool cached)>;
DeviceProbe real_device_probe();

struct VulkanDevice {
  int index = 0;  // the Vulkan physical-device index: GGML_VK_VISIBLE_DEVICES, LoadOptions.device
  // As listed, renamed "Vulkan<index>" (the server itself, pinned, calls it Vulkan0).
  ServerDevice device;
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

}  // namespace inference::llama_server
