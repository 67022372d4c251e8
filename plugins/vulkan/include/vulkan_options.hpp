// The vulkan backend's own backend_options (next to the engine's, see engine_options.hpp) and
// where its llama-server comes from.
//
// backend_options keys (all optional):
//   allow_software_device  "1": a software Vulkan device (Mesa's llvmpipe/lavapipe, SwiftShader:
//                          the CPU pretending to be a GPU) may be used; "0" (the default, unless
//                          $INFERENCE_VULKAN_ALLOW_SOFTWARE is "1"): such devices are never chosen,
//                          so nobody gets a software renderer by surprise
//   memory_limit_mib       caps the device memory the fit check counts as free, in MiB: for
//                          tests, and for sharing a card with other programs
//   devices                comma-separated Vulkan device indices ("0,1"), as llmctl's --devices
//                          sets them: one replica (llama-server process) per device, pooled
//                          behind one model; instead of LoadOptions.device. The engine option
//                          replicas, when also given, must equal their count
//
// Thread-safety: plain values and pure functions (binary lookup only stat()s files).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inference/llama_server/server_binary.hpp"

namespace inference::vulkan {

inline constexpr std::string_view kAllowSoftwareOption = "allow_software_device";
inline constexpr std::string_view kMemoryLimitOption = "memory_limit_mib";
inline constexpr std::string_view kDevicesOption = "devices";

// The default of allow_software_device, for available() (which has no options) and hosts that
// cannot pass backend options.
inline constexpr std::string_view kAllowSoftwareVariable = "INFERENCE_VULKAN_ALLOW_SOFTWARE";
// A Vulkan build of llama-server; honoured before the engine's LLAMA_SERVER_PATH.
inline constexpr std::string_view kVulkanServerPathVariable = "VULKAN_LLAMA_SERVER_PATH";

struct VulkanOptions {
  bool allow_software = false;
  std::optional<std::uint64_t> memory_limit_mib;
  std::vector<int> devices;  // empty: not given
};

// The keys above, for LlamaServerModel::load's extra_option_keys.
std::vector<std::string> vulkan_option_keys();

// Reads the keys above (other keys are left for the engine to judge). Throws
// Error(invalid_argument) naming the key for an allow_software_device other than "0"/"1" or a
// memory_limit_mib that is not a positive whole number, or a devices list that is empty, not
// made of indices, or names one twice.
VulkanOptions parse_vulkan_options(const std::map<std::string, std::string>& options,
                                   const llama_server::EnvLookup& env);

// The llama-server to run: explicit_path (the server_path backend option) when given, else
// $VULKAN_LLAMA_SERVER_PATH when set and non-empty (authoritative: unusable means an error),
// else the Vulkan build scripts/setup --gpu vulkan installs (configured_runtime_server_binary
// ("vulkan")), else the engine's search ($LLAMA_SERVER_PATH, PATH) without the configured
// CPU-only default. Throws Error(child_start_failed) listing what was tried.
std::filesystem::path find_vulkan_server_binary(const std::optional<std::filesystem::path>& explicit_path,
                                                const llama_server::EnvLookup& env,
                                                const std::optional<std::filesystem::path>& configured_vulkan =
                                                    llama_server::configured_runtime_server_binary("vulkan"));

}  // namespace inference::vulkan
