// VulkanLaunchPlan: everything the vulkan backend decides before it hands a model to the
// llama-server engine: the binary, the device (from the binary's own device list), the context
// per slot and the fit of the model in the device's free memory. Kept apart from the engine so
// each decision is testable with a fake device probe.
//
// Ownership: plain values. Thread-safety: plan_vulkan_launches() only probes the binary (blocking,
// bounded per probe by kVersionProbeTimeout); safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "inference/llama_server/launch_spec.hpp"
#include "inference/llama_server/memory_fit.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "inference/load_options.hpp"
#include "inference/model_info.hpp"
#include "vulkan_devices.hpp"
#include "vulkan_options.hpp"

namespace inference::vulkan {

struct VulkanLaunchPlan {
  std::filesystem::path binary;
  VulkanDevice device;                 // with its free memory as probed at this plan
  std::uint64_t usable_bytes = 0;      // free memory, capped by memory_limit_mib
  std::int32_t gpu_layers = -1;        // for LoadOptions.gpu_layers (-1 = all)
  std::uint32_t context_per_slot = 0;  // as asked, or chosen to fit when context_len is unset
  std::string context_reason;          // why that context (ModelInfo::serving_context_reason)
  llama_server::FitEstimate fit;       // the estimate for gpu_layers (empty when gpu_layers is 0)
};

// One plan per replica. In order: a binary must be found (find_vulkan_server_binary), its devices
// enumerated and the replicas' devices chosen: the devices option (one replica each), else for the
// engine option replicas=N the N allowed devices with the most free memory, else one device
// (choose_device: options.device or the allowed one with the most free memory). Each device is
// probed afresh for its free memory (capped by memory_limit_mib) and the model must fit there
// with options.gpu_layers (no check for 0): with context_len set, its estimate must fit or the
// load is refused naming the numbers; unset, the largest context that fits is chosen
// (choose_context), and with several replicas every one gets the smallest device's choice (the
// engine runs one context for all).
// Throws Error: child_start_failed (no binary, the probe fails), backend_unavailable (no Vulkan
// runtime, no device, only software devices without allow_software_device), invalid_argument
// (bad option or device, replicas and devices disagree, too few devices, the model does not fit).
std::vector<VulkanLaunchPlan> plan_vulkan_launches(const ModelInfo& model, const LoadOptions& options,
                                                   const llama_server::EnvLookup& env, const DeviceProbe& probe);

// "Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits)": ModelInfo::serving_device.
std::string serving_device(const VulkanLaunchPlan& plan);

// The customizer's work: GGML_VK_VISIBLE_DEVICES=<index> in the child's environment (replacing
// the host's own), and -ngl for plan.gpu_layers (all layers: kAllGpuLayers).
void apply_vulkan_plan(const VulkanLaunchPlan& plan, llama_server::LaunchSpec& spec);

}  // namespace inference::vulkan
