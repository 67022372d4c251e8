// LaunchPlan: everything the rocm backend decides before it hands a model to the llama-server
// engine: the GPU (from sysfs), how many layers go on it (from the VRAM fit check) and which
// server binary runs. Kept apart from the engine so each decision is testable on a fake tree.
//
// Ownership: plain values. Thread-safety: plan_launch() only reads files; safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "amd_gpu.hpp"
#include "inference/llama_server/launch_spec.hpp"
#include "inference/llama_server/memory_fit.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "inference/load_options.hpp"
#include "inference/model_info.hpp"
#include "rocm_options.hpp"
#include "runtime_choice.hpp"

namespace inference::rocm {

struct LaunchPlan {
  GpuInfo gpu;
  std::int32_t gpu_layers = -1;   // for LoadOptions.gpu_layers (-1 = all)
  llama_server::FitEstimate fit;  // the estimate for gpu_layers (empty when gpu_layers is 0)
  // For LoadOptions.context_len: as asked, or (context_len unset) the largest per-slot context
  // that fits the GPU's free VRAM (0 with gpu_layers=0); and why, for ModelInfo.
  std::uint32_t context_per_slot = 0;
  std::string context_reason;
  std::optional<std::string> hsa_override;
  // The build that drives the GPU and how it is pinned (choose_plan_runtime(); empty binary
  // until then).
  RuntimeChoice runtime;
};

// In order: /dev/kfd must exist, the topology must read, options.device (or the discrete GPU
// with the most free VRAM) is chosen, the model must fit in its free VRAM with
// options.gpu_layers — or, with auto_offload=1 and all layers requested, the layers that fit are
// used. The build is chosen afterwards (choose_plan_runtime). With options.context_len unset the context is
// chosen (llama_server::choose_context(): the largest per-slot context up to the training
// context that fits with options.gpu_layers, at least kMinChosenContextPerSlot; with
// auto_offload=1 and all layers requested, when not even that floor fits with every layer, the
// floor with the layers that fit at it). An explicit context_len is never changed: it fits or is
// refused. gpu_layers=0 (CPU only) has no fit check and keeps context_len as given (0: llama-server's
// -c 0, the training context split over the slots).
// Throws Error: backend_unavailable (no KFD, unreadable topology, no usable GPU),
// invalid_argument (bad option or device, the model does not fit: the message names the
// numbers in MiB).
LaunchPlan plan_launch(const ModelInfo& model, const LoadOptions& options, const llama_server::EnvLookup& env);

// One plan per replica: one per GPU of the devices option, or for the engine option
// replicas=N without devices the N usable GPUs with the most free VRAM, each checked as
// plan_launch() checks one (options.device is ignored then). Without either: plan_launch().
// With context_len unset every replica gets the smallest of the contexts chosen per GPU (one
// model serves one context per slot), with that GPU's reason.
// Throws Error(invalid_argument) when replicas and devices disagree or when fewer usable GPUs
// than replicas exist (listing what was found), and whatever plan_launch() throws.
std::vector<LaunchPlan> plan_replica_launches(const ModelInfo& model, const LoadOptions& options,
                                              const llama_server::EnvLookup& env);

// Fills plan.runtime: choose_runtime() for plan.gpu with the options' runtime and server_path
// (device-node access, the binary, its device probe). Throws what choose_runtime() throws.
void choose_plan_runtime(LaunchPlan& plan, const LoadOptions& options, const llama_server::EnvLookup& env,
                         const DeviceProbe& probe);

// What the load of these plans serves, into `info`: serving_context_per_slot/_reason from the
// plans (plan_replica_launches() gives every replica the same context) and serving_device, the
// GPUs ("GPU 0 (gfx1100), GPU 1 (gfx1100)"; "CPU (gpu_layers=0)").
void describe_serving(const std::vector<LaunchPlan>& plans, ModelInfo& info);

// The customizer's work: pins the launch to plan.gpu with plan.gpu_layers: HIP_VISIBLE_DEVICES
// for the HIP build (pin_device()), GGML_VK_VISIBLE_DEVICES for the Vulkan build
// (pin_vulkan_device()).
void apply_plan(const LaunchPlan& plan, llama_server::LaunchSpec& spec);

// Why plan.gpu is no longer there (its KFD topology node or its DRM render node is gone from
// sysfs: the card was removed or the driver unbound it), or std::nullopt while it is.
std::optional<std::string> gpu_gone(const LaunchPlan& plan, const DiscoveryPaths& paths);

}  // namespace inference::rocm
