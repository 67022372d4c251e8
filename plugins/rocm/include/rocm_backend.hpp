// RocmBackend ("rocm"): llama-server built for ROCm (HIP), run through the llama-server engine
// and pinned to one AMD GPU. Everything AMD-specific (discovery, pinning, the VRAM fit check)
// happens before the engine starts the server; streaming and slot multiplexing are the engine's.
//
// Ownership: shared (the registry holds it); keeps nothing but its environment lookup.
// Thread-safety: every member may be called from any thread. available() reads sysfs each time.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string>

#include "inference/backend.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "runtime_choice.hpp"

namespace inference::rocm {

inline constexpr std::string_view kBackendName = "rocm";
// Above the vendor-neutral llama_cpp backend (100): when an AMD GPU and a ROCm build are there,
// they are what the host wants by default.
inline constexpr int kBackendPriority = 200;

class RocmBackend final : public Backend {
 public:
  // `env` is how variables (INFERENCE_ROCM_*, ROCM_LLAMA_SERVER_PATH, VULKAN_LLAMA_SERVER_PATH,
  // LLAMA_SERVER_PATH, PATH) are read; the server's own environment is always the real one.
  // `probe` asks a binary which devices it can use (default: the cached --list-devices probe).
  explicit RocmBackend(llama_server::EnvLookup env = llama_server::process_environment_lookup(),
                       DeviceProbe probe = server_device_probe());

  // llama_server::probe_server_devices_blocking() with its cache.
  static DeviceProbe server_device_probe();

  std::string name() const override { return std::string(kBackendName); }
  int priority() const override { return kBackendPriority; }
  // True with /dev/kfd present, at least one usable discrete AMD GPU, and a build that can drive
  // it (runtime_choice.hpp: its device probe, the device nodes' permissions); the reason then
  // says which runtime was chosen and `devices` has the build's device lines. Otherwise the
  // reason names what is missing.
  Availability available() const override;
  // The same, where the server_path backend option (when set) is the llama-server.
  Availability available_with(const LoadOptions& options) const override;
  // Reads the GGUF metadata, runs the VRAM fit check against the chosen GPU and chooses the
  // runtime as the load would.
  Availability preflight(const std::string& path, const LoadOptions& options) const override;
  // plan_launch() (device, fit check), choose_plan_runtime() (binary, probe, permissions), then
  // LlamaServerModel::load pinned to the GPU; ModelInfo::serving_device says which GPU and
  // runtime ("GPU 0 (gfx1100) via HIP (ROCm0: ...)"). The returned model is a
  // llama_server::LlamaServerModel.
  boost::asio::awaitable<std::shared_ptr<TextModel>> load_model(std::string path, LoadOptions options) override;

 private:
  llama_server::EnvLookup env_;
  DeviceProbe probe_;
};

}  // namespace inference::rocm
