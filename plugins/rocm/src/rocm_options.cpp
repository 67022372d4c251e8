#include "rocm_options.hpp"

#include <unistd.h>

#include <algorithm>

#include <charconv>

#include "device_environment.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/device_indices.hpp"

namespace inference::rocm {

namespace {

std::optional<std::string> lookup(const std::map<std::string, std::string>& options, std::string_view key) {
  const auto it = options.find(std::string(key));
  if (it == options.end()) return std::nullopt;
  return it->second;
}

std::filesystem::path path_option(const std::map<std::string, std::string>& options, std::string_view key,
                                  const std::filesystem::path& fallback) {
  const auto value = lookup(options, key);
  if (!value) return fallback;
  if (value->empty()) throw Error(errc::invalid_argument, "backend option " + std::string(key) + " is empty");
  return *value;
}

bool flag_option(const std::map<std::string, std::string>& options, std::string_view key) {
  const auto value = lookup(options, key);
  if (!value) return false;
  if (*value != "0" && *value != "1") {
    throw Error(errc::invalid_argument, "backend option " + std::string(key) + " must be 0 or 1, not '" + *value + "'");
  }
  return *value == "1";
}

Runtime runtime_option(const std::map<std::string, std::string>& options) {
  const auto value = lookup(options, kRuntimeOption);
  if (!value) return Runtime::automatic;
  for (const Runtime runtime : {Runtime::automatic, Runtime::hip, Runtime::vulkan}) {
    if (*value == runtime_name(runtime)) return runtime;
  }
  throw Error(errc::invalid_argument,
              "backend option " + std::string(kRuntimeOption) + " must be auto, hip or vulkan, not '" + *value + "'");
}

// One configured place (a variable or the setup-installed default) before the engine's search.
// A variable the user set is authoritative; the installed default is skipped when unusable.
std::filesystem::path find_runtime_binary(const std::optional<std::filesystem::path>& explicit_path,
                                          const llama_server::EnvLookup& env, std::string_view variable,
                                          const std::optional<std::filesystem::path>& installed_default) {
  // Never the build's configured default: scripts/setup installs a CPU-only llama-server, which
  // would run this backend's models on the CPU without a word.
  const std::optional<std::filesystem::path> no_configured_default;
  if (explicit_path) return llama_server::find_server_binary(explicit_path, env, no_configured_default);
  if (const auto configured = env(variable); configured && !configured->empty()) {
    try {
      return llama_server::find_server_binary(std::filesystem::path(*configured), env, no_configured_default);
    } catch (const Error& e) {
      throw Error(errc::child_start_failed, std::string(variable) + ": " + e.context());
    }
  }
  if (installed_default && ::access(installed_default->c_str(), X_OK) == 0) return *installed_default;
  return llama_server::find_server_binary(std::nullopt, env, no_configured_default);
}

}  // namespace

std::string_view runtime_name(Runtime runtime) noexcept {
  switch (runtime) {
    case Runtime::hip:
      return "hip";
    case Runtime::vulkan:
      return "vulkan";
    case Runtime::automatic:
      break;
  }
  return "auto";
}

std::vector<std::string> rocm_option_keys() {
  return {std::string(kSysfsRootOption),   std::string(kKfdPathOption),
          std::string(kHsaOverrideOption), std::string(kAutoOffloadOption),
          std::string(kDevicesOption),     std::string(kDriDirOption),
          std::string(kRuntimeOption),     std::string(kAllowSoftwareDeviceOption)};
}

RocmOptions parse_rocm_options(const std::map<std::string, std::string>& options, const llama_server::EnvLookup& env) {
  RocmOptions parsed;
  const DiscoveryPaths defaults = discovery_paths_from_environment(env);
  parsed.paths.sysfs_root = path_option(options, kSysfsRootOption, defaults.sysfs_root);
  parsed.paths.kfd_device = path_option(options, kKfdPathOption, defaults.kfd_device);
  parsed.paths.dri_dir = path_option(options, kDriDirOption, defaults.dri_dir);
  if (auto version = lookup(options, kHsaOverrideOption)) {
    if (!valid_gfx_version(*version)) {
      throw Error(errc::invalid_argument, "backend option " + std::string(kHsaOverrideOption) + " '" + *version +
                                              "' is not of the form major.minor.stepping (e.g. 11.0.0)");
    }
    parsed.hsa_override = std::move(*version);
  }
  parsed.auto_offload = flag_option(options, kAutoOffloadOption);
  parsed.allow_software_device = flag_option(options, kAllowSoftwareDeviceOption);
  parsed.runtime = runtime_option(options);
  if (const auto devices = lookup(options, kDevicesOption))
    parsed.devices = llama_server::parse_device_indices(kDevicesOption, *devices, "GPU");
  return parsed;
}

std::filesystem::path find_rocm_server_binary(const std::optional<std::filesystem::path>& explicit_path,
                                              const llama_server::EnvLookup& env,
                                              const std::optional<std::filesystem::path>& hip_default) {
  return find_runtime_binary(explicit_path, env, kRocmServerPathVariable, hip_default);
}

std::filesystem::path find_vulkan_server_binary(const std::optional<std::filesystem::path>& explicit_path,
                                                const llama_server::EnvLookup& env,
                                                const std::optional<std::filesystem::path>& vulkan_default) {
  return find_runtime_binary(explicit_path, env, kVulkanServerPathVariable, vulkan_default);
}

std::optional<std::filesystem::path> vulkan_fallback_binary(
    const std::optional<std::filesystem::path>& explicit_path, const llama_server::EnvLookup& env,
    const std::optional<std::filesystem::path>& vulkan_default) {
  const auto configured = env(kVulkanServerPathVariable);
  const bool variable_set = configured && !configured->empty();
  if (!explicit_path && !variable_set && (!vulkan_default || ::access(vulkan_default->c_str(), X_OK) != 0)) {
    return std::nullopt;
  }
  return find_vulkan_server_binary(explicit_path, env, vulkan_default);
}

}  // namespace inference::rocm
