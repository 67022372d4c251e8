// The rocm backend's own backend_options (next to the engine's, see engine_options.hpp) and
// where its llama-server comes from.
//
// backend_options keys (all optional):
//   sysfs_root                 where sysfs is mounted (default $INFERENCE_ROCM_SYSFS_ROOT or /sys)
//   kfd_path                   the KFD device node (default $INFERENCE_ROCM_KFD_PATH or /dev/kfd)
//   dri_dir                    where the render nodes are (default $INFERENCE_ROCM_DRI_DIR or /dev/dri)
//   runtime                    auto (default), hip or vulkan: which llama-server build drives the
//                              card (runtime_choice.hpp)
//   allow_software_device      "1": with runtime=vulkan, a software Vulkan device (lavapipe) may
//                              stand in for the AMD card (for tests on machines without one)
//   hsa_override_gfx_version   sets HSA_OVERRIDE_GFX_VERSION for the server, e.g. "11.0.0"
//   auto_offload               "1": when the model does not fit in free VRAM with all layers,
//                              offload as many layers as fit instead of refusing to load
//   devices                    comma-separated HIP indices ("0,1"): one replica (llama-server
//                              process) per GPU, pooled behind one model; the engine option
//                              replicas, when also given, must equal their count
//
// Thread-safety: plain values and pure functions (binary lookup only stat()s files).
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gpu_discovery.hpp"
#include "inference/llama_server/server_binary.hpp"

namespace inference::rocm {

inline constexpr std::string_view kSysfsRootOption = "sysfs_root";
inline constexpr std::string_view kKfdPathOption = "kfd_path";
inline constexpr std::string_view kHsaOverrideOption = "hsa_override_gfx_version";
inline constexpr std::string_view kAutoOffloadOption = "auto_offload";
inline constexpr std::string_view kDevicesOption = "devices";
inline constexpr std::string_view kDriDirOption = "dri_dir";
inline constexpr std::string_view kRuntimeOption = "runtime";
inline constexpr std::string_view kAllowSoftwareDeviceOption = "allow_software_device";

// The variable the Go original read its ROCm llama-server from; honoured before the engine's.
inline constexpr std::string_view kRocmServerPathVariable = "ROCM_LLAMA_SERVER_PATH";
// Where the Vulkan build is, for runtime=vulkan (the same variable the vulkan backend reads).
inline constexpr std::string_view kVulkanServerPathVariable = "VULKAN_LLAMA_SERVER_PATH";

// Which llama-server build drives the card: the HIP (ROCm) build, the Vulkan build through
// Mesa's RADV, or whichever is there (HIP first).
enum class Runtime { automatic, hip, vulkan };

// "auto", "hip", "vulkan".
std::string_view runtime_name(Runtime runtime) noexcept;

struct RocmOptions {
  DiscoveryPaths paths;
  std::optional<std::string> hsa_override;
  bool auto_offload = false;
  std::vector<int> devices;  // empty: not given
  Runtime runtime = Runtime::automatic;
  bool allow_software_device = false;
};

// The keys above, for LlamaServerModel::load's extra_option_keys.
std::vector<std::string> rocm_option_keys();

// Reads the keys above (other keys are left for the engine to judge). Paths default to
// discovery_paths_from_environment(env). Throws Error(invalid_argument) naming the key for an
// empty path, a malformed gfx version, an auto_offload or allow_software_device other than
// "0"/"1", a runtime other than auto/hip/vulkan, or a devices list that is empty, not made of
// indices, or names one twice.
RocmOptions parse_rocm_options(const std::map<std::string, std::string>& options, const llama_server::EnvLookup& env);

// The HIP llama-server to run: explicit_path (the server_path backend option) when given, else
// $ROCM_LLAMA_SERVER_PATH when set and non-empty (authoritative: unusable means an error, not a
// fallback), else the HIP build scripts/setup --gpu rocm installed next to the configured one
// (configured_runtime_server_binary("hip"): `hip_default`), else the engine's search
// ($LLAMA_SERVER_PATH, PATH) without the build's configured default, which is the CPU-only build
// scripts/setup installs. Throws Error(child_start_failed) listing what was tried. Whether the
// binary found has ROCm at all is for its device probe to say (runtime_choice.hpp).
std::filesystem::path find_rocm_server_binary(
    const std::optional<std::filesystem::path>& explicit_path, const llama_server::EnvLookup& env,
    const std::optional<std::filesystem::path>& hip_default = llama_server::configured_runtime_server_binary("hip"));

// The Vulkan llama-server, in the same order with $VULKAN_LLAMA_SERVER_PATH and
// configured_runtime_server_binary("vulkan") (`vulkan_default`) in place of the HIP ones.
std::filesystem::path find_vulkan_server_binary(const std::optional<std::filesystem::path>& explicit_path,
                                                const llama_server::EnvLookup& env,
                                                const std::optional<std::filesystem::path>& vulkan_default =
                                                    llama_server::configured_runtime_server_binary("vulkan"));

// The Vulkan build runtime=auto falls back to: explicit_path, else $VULKAN_LLAMA_SERVER_PATH,
// else vulkan_default; std::nullopt when none is given (auto does not search PATH twice: the
// HIP search already took what is there). Throws like find_vulkan_server_binary() for a
// variable naming an unusable file.
std::optional<std::filesystem::path> vulkan_fallback_binary(
    const std::optional<std::filesystem::path>& explicit_path, const llama_server::EnvLookup& env,
    const std::optional<std::filesystem::path>& vulkan_default =
        llama_server::configured_runtime_server_binary("vulkan"));

}  // namespace inference::rocm
