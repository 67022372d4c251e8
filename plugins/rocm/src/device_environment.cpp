#include "device_environment.hpp"

#include <algorithm>

#include "inference/error.hpp"

namespace inference::rocm {

namespace {

constexpr int kGfxVersionParts = 3;

void set_variable(llama_server::LaunchSpec& spec, std::string_view name, std::string value) {
  std::erase_if(spec.environment_set, [&](const auto& entry) { return entry.first == name; });
  spec.environment_set.emplace_back(std::string(name), std::move(value));
}

void remove_inherited(llama_server::LaunchSpec& spec, std::string_view name) {
  std::erase_if(spec.environment_set, [&](const auto& entry) { return entry.first == name; });
  if (std::find(spec.environment_remove.begin(), spec.environment_remove.end(), name) ==
      spec.environment_remove.end()) {
    spec.environment_remove.emplace_back(name);
  }
}

}  // namespace

bool valid_gfx_version(std::string_view text) noexcept {
  int parts = 0;
  while (true) {
    const auto dot = text.find('.');
    const std::string_view part = text.substr(0, dot);
    if (part.empty() || !std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return false;
    }
    ++parts;
    if (dot == std::string_view::npos) break;
    text.remove_prefix(dot + 1);
  }
  return parts == kGfxVersionParts;
}

void pin_device(llama_server::LaunchSpec& spec, int hip_index, const std::optional<std::string>& hsa_override) {
  if (hip_index < 0) throw Error(errc::invalid_argument, "GPU index must not be negative");
  if (hsa_override && !valid_gfx_version(*hsa_override)) {
    throw Error(errc::invalid_argument, "hsa_override_gfx_version '" + *hsa_override +
                                            "' is not of the form major.minor.stepping (e.g. 11.0.0)");
  }
  for (const auto name : kDeviceSelectionVariables) remove_inherited(spec, name);
  set_variable(spec, kHipVisibleDevices, std::to_string(hip_index));
  if (hsa_override) set_variable(spec, kHsaOverrideGfxVersion, *hsa_override);
}

void pin_vulkan_device(llama_server::LaunchSpec& spec, int vulkan_index) {
  if (vulkan_index < 0) throw Error(errc::invalid_argument, "Vulkan device index must not be negative");
  for (const auto name : kDeviceSelectionVariables) remove_inherited(spec, name);
  remove_inherited(spec, kVulkanVisibleDevices);
  set_variable(spec, kVulkanVisibleDevices, std::to_string(vulkan_index));
}

}  // namespace inference::rocm
