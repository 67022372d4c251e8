// VulkanBackend ("vulkan"): llama-server built with ggml's Vulkan backend, run through the
// llama-server engine and pinned to one Vulkan device per replica (any GPU vendor: RADV, ANV, NVIDIA's
// driver; Mesa's CPU lavapipe only when allowed). Device discovery, pinning and the memory fit
// happen before the engine starts the server; streaming and slot multiplexing are the engine's.
//
// Ownership: shared (the registry holds it); keeps its environment lookup and device probe.
// Thread-safety: every member may be called from any thread. available() probes the binary
// (cached per binary file: ~170 ms per device index the first time, nothing after).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "inference/backend.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "vulkan_devices.hpp"

namespace inference::vulkan {

inline constexpr std::string_view kBackendName = "vulkan";
// Below rocm (200), which knows AMD cards better (HIP, VRAM from sysfs), above the
// vendor-neutral llama_cpp backend (100), which would run the model on the CPU.
inline constexpr int kBackendPriority = 150;

class VulkanBackend final : public Backend {
 public:
  // `env` is how variables (INFERENCE_VULKAN_ALLOW_SOFTWARE, VULKAN_LLAMA_SERVER_PATH,
  // LLAMA_SERVER_PATH, PATH) are read; `probe` how the binary is asked for its devices. The
  // server's own environment is always the real one.
  explicit VulkanBackend(llama_server::EnvLookup env = llama_server::process_environment_lookup(),
                         DeviceProbe probe = real_device_probe());

  std::string name() const override { return std::string(kBackendName); }
  int priority() const override { return kBackendPriority; }
  // True when a llama-server is found whose Vulkan runtime lists a device this backend may use;
  // otherwise the reason says which of those is missing. executable and devices are filled
  // whenever the binary could be probed.
  Availability available() const override;
  // The same, with the server_path and allow_software_device backend options.
  Availability available_with(const LoadOptions& options) const override;
  // Reads the GGUF metadata and runs the plan (devices, fit check) without starting anything;
  // the reason lists each device's fit and the context.
  Availability preflight(const std::string& path, const LoadOptions& options) const override;
  // plan_vulkan_launches(), then LlamaServerModel::load_planned: one replica per planned device,
  // each pinned to it, all layers offloaded by default. The model's info() carries
  // serving_device (the devices, "; "-separated) and the context with its reason. The planner's
  // device probes block the loading thread (at most kMaxVulkanDevices + replicas probes, each
  // bounded by kVersionProbeTimeout; the enumeration is cached after the first load) and are
  // not cancellable. The returned model is a llama_server::LlamaServerModel.
  boost::asio::awaitable<std::shared_ptr<TextModel>> load_model(std::string path, LoadOptions options) override;

 private:
  llama_server::EnvLookup env_;
  DeviceProbe probe_;
};

}  // namespace inference::vulkan
