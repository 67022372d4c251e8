#include "vulkan_options.hpp"

#include <algorithm>
#include <charconv>

#include "inference/error.hpp"
#include "inference/llama_server/device_indices.hpp"

namespace inference::vulkan {

namespace {

std::optional<std::string> lookup(const std::map<std::string, std::string>& options, std::string_view key) {
  const auto it = options.find(std::string(key));
  if (it == options.end()) return std::nullopt;
  return it->second;
}

std::uint64_t parse_limit(const std::string& value) {
  std::uint64_t mib = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), mib);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || mib == 0) {
    throw Error(errc::invalid_argument, "backend option " + std::string(kMemoryLimitOption) + " must be a positive " +
                                            "number of MiB, not '" + value + "'");
  }
  return mib;
}

}  // namespace

std::vector<std::string> vulkan_option_keys() {
  return {std::string(kAllowSoftwareOption), std::string(kMemoryLimitOption), std::string(kDevicesOption)};
}

VulkanOptions parse_vulkan_options(const std::map<std::string, std::string>& options,
                                   const llama_server::EnvLookup& env) {
  VulkanOptions parsed;
  parsed.allow_software = env(kAllowSoftwareVariable).value_or("") == "1";
  if (const auto allow = lookup(options, kAllowSoftwareOption)) {
    if (*allow != "0" && *allow != "1") {
      throw Error(errc::invalid_argument,
                  "backend option " + std::string(kAllowSoftwareOption) + " must be 0 or 1, not '" + *allow + "'");
    }
    parsed.allow_software = *allow == "1";
  }
  if (const auto limit = lookup(options, kMemoryLimitOption)) parsed.memory_limit_mib = parse_limit(*limit);
  if (const auto devices = lookup(options, kDevicesOption))
    parsed.devices = llama_server::parse_device_indices(kDevicesOption, *devices, "Vulkan device");
  return parsed;
}

std::filesystem::path find_vulkan_server_binary(const std::optional<std::filesystem::path>& explicit_path,
                                                const llama_server::EnvLookup& env,
                                                const std::optional<std::filesystem::path>& configured_vulkan) {
  // Never the build's configured CPU-only default: the device probe would refuse it anyway, but
  // the search should name a binary that can work.
  const std::optional<std::filesystem::path> no_configured_default;
  if (explicit_path) return llama_server::find_server_binary(explicit_path, env, no_configured_default);
  if (const auto vulkan = env(kVulkanServerPathVariable); vulkan && !vulkan->empty()) {
    try {
      return llama_server::find_server_binary(std::filesystem::path(*vulkan), env, no_configured_default);
    } catch (const Error& e) {
      throw Error(errc::child_start_failed, std::string(kVulkanServerPathVariable) + ": " + e.context());
    }
  }
  if (configured_vulkan) return *configured_vulkan;
  return llama_server::find_server_binary(std::nullopt, env, no_configured_default);
}

}  // namespace inference::vulkan
