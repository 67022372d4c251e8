// Pinning llama-server to one GPU through its environment: the edits a LaunchSpec needs so the
// child sees exactly one device, whatever device-selection variables the host itself has.
// Pure functions on plain values: safe from any thread.
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "inference/llama_server/launch_spec.hpp"

namespace inference::rocm {

inline constexpr std::string_view kHipVisibleDevices = "HIP_VISIBLE_DEVICES";
inline constexpr std::string_view kHsaOverrideGfxVersion = "HSA_OVERRIDE_GFX_VERSION";
// ggml's Vulkan device filter: Vulkan physical-device indices, comma-separated.
inline constexpr std::string_view kVulkanVisibleDevices = "GGML_VK_VISIBLE_DEVICES";
// Every variable through which a ROCm/HIP process can be restricted to devices. An inherited one
// would combine with ours (ROCR filters first, HIP renumbers what is left), so all are removed.
inline constexpr std::array<std::string_view, 4> kDeviceSelectionVariables = {
    "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "GPU_DEVICE_ORDINAL"};

// Edits `spec` so the child's environment has none of kDeviceSelectionVariables from the parent
// and exactly one HIP_VISIBLE_DEVICES=<hip_index>. `hsa_override`, when given, sets
// HSA_OVERRIDE_GFX_VERSION (otherwise a value the user exported is inherited unchanged).
// Existing edits in `spec` are kept; earlier settings of these variables are replaced.
// Throws Error(invalid_argument) for a negative index or an hsa_override that is not "N.N.N".
void pin_device(llama_server::LaunchSpec& spec, int hip_index, const std::optional<std::string>& hsa_override);

// The Vulkan build's pin: removes kDeviceSelectionVariables and any inherited
// GGML_VK_VISIBLE_DEVICES (as pin_device() does) and sets exactly one
// GGML_VK_VISIBLE_DEVICES=<vulkan_index>, the card's Vulkan physical-device index. No
// HIP_VISIBLE_DEVICES: the Vulkan build does not read it, and it would only mislead whoever
// reads the child's environment. Throws Error(invalid_argument) for a negative index.
void pin_vulkan_device(llama_server::LaunchSpec& spec, int vulkan_index);

// True for "major.minor.stepping" with decimal parts (what ROCm accepts, e.g. "11.0.0").
bool valid_gfx_version(std::string_view text) noexcept;

}  // namespace inference::rocm
