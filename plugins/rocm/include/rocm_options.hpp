// The rocm backend's own backend_options (next to the engine's, see engine_options.hpp) and
// where its llama-server comes from.
//
// backend_options keys (all optional):
//   sysfs_root                 where sysfs is mounted (default $INFERENCE_ROCM_SYSFS_ROOT or /sys)
//   kfd_path                   the KFD device node (default $INFERENCE_ROCM_KFD_PATH or /dev/kfd)
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

// The variable the Go original read its ROCm llama-server from; honoured before the engine's.
inline constexpr std::string_view kRocmServerPathVariable = "ROCM_LLAMA_SERVER_PATH";

struct RocmOptions {
  DiscoveryPaths paths;
  std::optional<std::string> hsa_override;
  bool auto_offload = false;
  std::vector<int> devices;  // empty: not given
};

// The keys above, for LlamaServerModel::load's extra_option_keys.
std::vector<std::string> rocm_option_keys();

// Reads the keys above (other keys are left for the engine to judge). Paths default to
// discovery_paths_from_environment(env). Throws Error(invalid_argument) naming the key for an
// empty path, a malformed gfx version, an auto_offload other than "0"/"1", or a devices list
// that is empty, not made of indices, or names one twice.
RocmOptions parse_rocm_options(const std::map<std::string, std::string>& options, const llama_server::EnvLookup& env);

// The llama-server to run: explicit_path (the server_path backend option) when given, else
// $ROCM_LLAMA_SERVER_PATH when set and non-empty (authoritative: unusable means an error, not a
// fallback), else the engine's search ($LLAMA_SERVER_PATH, PATH) without the build's configured
// default, which is the CPU-only build scripts/setup installs. Throws
// Error(child_start_failed) listing what was tried.
std::filesystem::path find_rocm_server_binary(const std::optional<std::filesystem::path>& explicit_path,
                                              const llama_server::EnvLookup& env);

}  // namespace inference::rocm
