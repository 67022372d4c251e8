// Finding the AMD GPUs ROCm would use, from the KFD topology and the DRM render nodes in sysfs.
// The sysfs root and the /dev/kfd path are configurable so that machines without an AMD GPU
// (CI, tests, `llmctl backends` pointed at a captured tree) can exercise the same code.
//
// Layout read (every file bounded by kMaxSysfsFileBytes):
//   <sysfs>/class/kfd/kfd/topology/nodes/<N>/properties   "key value" lines: simd_count,
//       gfx_target_version, drm_render_minor, vendor_id, device_id (CPU nodes: simd_count 0)
//   <sysfs>/class/drm/renderD<minor>/device/mem_info_vram_total, mem_info_vram_used,
//       mem_info_gtt_total (decimal bytes), vendor, device ("0x1002")
//
// Ownership: plain values. Thread-safety: functions are safe from any thread; they only read
// files. Cancellation: nothing blocks beyond small sysfs reads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "amd_gpu.hpp"
#include "inference/llama_server/server_binary.hpp"

namespace inference::rocm {

// sysfs attribute files are a page at most; a larger one is not what we think it is.
inline constexpr std::size_t kMaxSysfsFileBytes = 64 * 1024;
// A topology with more nodes than this is malformed (real machines have a handful).
inline constexpr std::size_t kMaxTopologyNodes = 256;

inline constexpr std::string_view kDefaultSysfsRoot = "/sys";
inline constexpr std::string_view kDefaultKfdPath = "/dev/kfd";
inline constexpr std::string_view kDefaultDriDir = "/dev/dri";
// Environment overrides, so the plugin can be pointed at a fake tree without backend_options
// (available() takes no options).
inline constexpr std::string_view kSysfsRootVariable = "INFERENCE_ROCM_SYSFS_ROOT";
inline constexpr std::string_view kKfdPathVariable = "INFERENCE_ROCM_KFD_PATH";
inline constexpr std::string_view kDriDirVariable = "INFERENCE_ROCM_DRI_DIR";

struct DiscoveryPaths {
  std::filesystem::path sysfs_root{kDefaultSysfsRoot};
  std::filesystem::path kfd_device{kDefaultKfdPath};
  // Where the render nodes are (renderD<minor>): opened before a launch to check permissions.
  std::filesystem::path dri_dir{kDefaultDriDir};
};

// The default paths, overridden by the environment variables above when set and non-empty.
DiscoveryPaths discovery_paths_from_environment(const llama_server::EnvLookup& env);

struct GpuDiscovery {
  // Every GPU HIP would number whose files could be read, in index order. A GPU whose DRM
  // files are unreadable keeps its index (HIP still counts it) but is left out, with a problem.
  std::vector<GpuInfo> gpus;
  // One line per GPU that could not be read, naming the file and what was wrong.
  std::vector<std::string> problems;
};

// Throws Error(backend_unavailable) naming the path when paths.kfd_device does not exist (no
// amdgpu driver, or no AMD GPU).
void require_kfd(const DiscoveryPaths& paths);

// Reads the KFD topology under paths.sysfs_root (paths.kfd_device is not looked at). Throws
// Error(backend_unavailable) naming the path when the topology is missing, or when a node's
// properties are unreadable or malformed: then the HIP numbering of every later GPU is unknown,
// and pinning by a guessed index could select the wrong device.
GpuDiscovery discover_gpus(const DiscoveryPaths& paths);

// The GPU to run on. requested >= 0: that HIP index, which must be a usable (discrete AMD) GPU;
// requested < 0: the usable GPU with the most free VRAM (lowest index on ties). Throws
// Error(invalid_argument) for a requested index that is absent or not usable, and
// Error(backend_unavailable) when there is no usable GPU; both list what was found.
const GpuInfo& select_gpu(const GpuDiscovery& discovery, int requested);

// Parses "key value" lines (KFD properties) into a map; throws Error(backend_unavailable)
// naming `origin` for a line without a value or a value that is not an unsigned integer.
std::map<std::string, std::uint64_t> parse_kfd_properties(std::string_view text, std::string_view origin);

// Reads a whole small file; throws Error(backend_unavailable) naming the path when it cannot be
// opened or is larger than kMaxSysfsFileBytes.
std::string read_sysfs_file(const std::filesystem::path& path);

}  // namespace inference::rocm
