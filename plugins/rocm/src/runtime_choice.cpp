#include "runtime_choice.hpp"

#include "device_access.hpp"
#include "device_environment.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/vulkan_device_inventory.hpp"

namespace inference::rocm {

namespace fs = std::filesystem;
using llama_server::ServerDevice;
using llama_server::ServerDeviceList;

namespace {

constexpr std::string_view kRocmRuntime = "ROCm";
constexpr std::string_view kInstallHint =
    "install the HIP build with scripts/setup --gpu rocm or set ROCM_LLAMA_SERVER_PATH";

std::string join(const std::vector<std::string>& items, std::string_view separator) {
  std::string text;
  for (const std::string& item : items) text += (text.empty() ? "" : std::string(separator)) + item;
  return text;
}

// "CPU only", "CPU, Vulkan": what a build's ggml loaded, for the no-runtime message.
std::string loaded_summary(const ServerDeviceList& list) {
  if (list.loaded_backends.empty()) return "no backend";
  if (list.loaded_backends.size() == 1) return list.loaded_backends.front() + " only";
  return join(list.loaded_backends, ", ");
}

std::vector<std::string> device_lines(const std::vector<ServerDevice>& devices) {
  std::vector<std::string> lines;
  for (const ServerDevice& device : devices) lines.push_back(device.describe());
  return lines;
}

std::string gpu_label(const GpuInfo& gpu) { return "GPU " + std::to_string(gpu.index) + " (" + gpu.gfx_target + ")"; }

// Mesa's RADV names itself; AMDVLK and the proprietary driver say "AMD".
bool amd_vulkan_device(const ServerDevice& device) {
  return !device.software() &&
         (device.description.find("AMD") != std::string::npos || device.description.find("RADV") != std::string::npos);
}

// Every Vulkan physical device the build can see (the engine's inventory, one probe per index).
// Throws when the build has no Vulkan runtime at all.
std::vector<llama_server::VulkanDevice> vulkan_physical_devices(const fs::path& binary, const DeviceProbe& probe) {
  const llama_server::DeviceProbe uncached_signature =
      [&probe](const fs::path& path, const llama_server::ProbeEnvironment& environment,
               bool /*cached: this probe decides*/) { return probe(path, environment); };
  llama_server::VulkanInventory inventory = llama_server::enumerate_vulkan_devices(binary, uncached_signature);
  if (!inventory.has_runtime) {
    ServerDeviceList loaded;
    loaded.loaded_backends = inventory.loaded_backends;
    throw Error(errc::backend_unavailable, binary.string() + " has no Vulkan support: its ggml loaded " +
                                               loaded_summary(loaded) +
                                               "; install the Vulkan build with scripts/setup --gpu vulkan or set "
                                               "VULKAN_LLAMA_SERVER_PATH");
  }
  return std::move(inventory.devices);
}

// The position of `gpu` among the topology's AMD GPUs (integrated ones count: Vulkan lists them).
std::size_t amd_position(const GpuDiscovery& discovery, const GpuInfo& gpu, std::size_t& amd_count) {
  std::size_t position = 0;
  amd_count = 0;
  for (const GpuInfo& candidate : discovery.gpus) {
    if (candidate.vendor_id != kAmdVendorId) continue;
    if (candidate.index == gpu.index) position = amd_count;
    ++amd_count;
  }
  return position;
}

}  // namespace

InstalledBuilds InstalledBuilds::configured() {
  return {llama_server::configured_runtime_server_binary("hip"),
          llama_server::configured_runtime_server_binary("vulkan")};
}

RuntimeChoice check_hip_binary(const fs::path& binary, const GpuInfo& gpu, const RocmOptions& options,
                               const DeviceProbe& probe) {
  require_device_access(options.paths, gpu, /*needs_kfd=*/true);
  const std::string pin = std::to_string(gpu.index);
  const ServerDeviceList list = probe(binary, {{std::string(kHipVisibleDevices), pin}});
  if (!list.has_runtime(kRocmRuntime)) {
    throw Error(errc::backend_unavailable, binary.string() + " has no ROCm (HIP) support: its ggml loaded " +
                                               loaded_summary(list) + "; " + std::string(kInstallHint));
  }
  const std::vector<ServerDevice> devices = list.devices_of(kRocmRuntime);
  if (devices.empty()) {
    const std::string failed = list.failed_backends.empty()
                                   ? std::string()
                                   : " (" + join(list.failed_backends, ", ") + " failed to initialise)";
    throw Error(errc::backend_unavailable,
                binary.string() + " is a HIP build, but the HIP runtime sees no GPU with HIP_VISIBLE_DEVICES=" + pin +
                    failed + ": check the amdgpu driver and ROCm install, that ROCm supports " + gpu.gfx_target +
                    " (or set hsa_override_gfx_version), and the user's access to " +
                    options.paths.kfd_device.string() + " and " + render_node(options.paths, gpu).string());
  }
  RuntimeChoice choice;
  choice.runtime = Runtime::hip;
  choice.binary = binary;
  choice.device = devices.front();
  choice.devices = device_lines(devices);
  choice.serving_device = gpu_label(gpu) + " via HIP (" + choice.device.name + ": " + choice.device.description + ")";
  choice.reason = "runtime=hip: " + binary.string() + " (" + choice.device.describe() + ")";
  return choice;
}

RuntimeChoice check_vulkan_binary(const fs::path& binary, const GpuDiscovery& discovery, const GpuInfo& gpu,
                                  const RocmOptions& options, const DeviceProbe& probe) {
  require_device_access(options.paths, gpu, /*needs_kfd=*/false);
  std::vector<llama_server::VulkanDevice> candidates;
  std::vector<std::string> seen;
  for (llama_server::VulkanDevice& physical : vulkan_physical_devices(binary, probe)) {
    seen.push_back(std::to_string(physical.index) + ": " + physical.device.description);
    const bool stands_in = options.allow_software_device && physical.device.software();
    if (amd_vulkan_device(physical.device) || stands_in) candidates.push_back(std::move(physical));
  }
  std::size_t amd_gpus = 0;
  const std::size_t position = amd_position(discovery, gpu, amd_gpus);
  if (candidates.size() != amd_gpus) {
    throw Error(
        errc::backend_unavailable,
        "cannot tell which Vulkan device of " + binary.string() + " is " + gpu_label(gpu) + ": sysfs shows " +
            std::to_string(amd_gpus) + " AMD GPU(s), the build lists " + std::to_string(candidates.size()) +
            " AMD Vulkan device(s)" + (seen.empty() ? " (no Vulkan device at all)" : " among: " + join(seen, "; ")) +
            (options.allow_software_device ? "" : "; a software device counts only with allow_software_device=1"));
  }
  const llama_server::VulkanDevice& chosen = candidates[position];
  RuntimeChoice choice;
  choice.runtime = Runtime::vulkan;
  choice.binary = binary;
  choice.vulkan_index = chosen.index;
  choice.device = chosen.device;
  choice.device.name = "Vulkan0";  // pinned with GGML_VK_VISIBLE_DEVICES=<index>, the child names it so
  choice.devices = {choice.device.describe()};
  choice.serving_device =
      gpu_label(gpu) + " via Vulkan (" + choice.device.name + ": " + choice.device.description + ")";
  choice.reason = "runtime=vulkan: " + binary.string() + " (" + std::string(kVulkanVisibleDevices) + "=" +
                  std::to_string(chosen.index) + ", " + choice.device.describe() + ")";
  return choice;
}

namespace {

// auto: the HIP build when it has the runtime and sees the GPU, else the Vulkan build.
RuntimeChoice choose_automatically(const GpuDiscovery& discovery, const GpuInfo& gpu, const RocmOptions& options,
                                   const std::optional<fs::path>& explicit_path, const llama_server::EnvLookup& env,
                                   const DeviceProbe& probe, const InstalledBuilds& installed) {
  std::string hip_problem;
  try {
    RuntimeChoice choice =
        check_hip_binary(find_rocm_server_binary(explicit_path, env, installed.hip), gpu, options, probe);
    choice.reason = "runtime=auto chose HIP: " + choice.reason.substr(choice.reason.find(' ') + 1);
    return choice;
  } catch (const Error& e) {
    hip_problem = e.context().empty() ? std::string(e.what()) : e.context();
  }
  try {
    if (const std::optional<fs::path> vulkan = vulkan_fallback_binary(explicit_path, env, installed.vulkan)) {
      RuntimeChoice choice = check_vulkan_binary(*vulkan, discovery, gpu, options, probe);
      choice.reason = "runtime=auto chose Vulkan, as HIP is not usable (" + hip_problem +
                      "): " + choice.reason.substr(choice.reason.find(' ') + 1);
      return choice;
    }
  } catch (const Error& e) {
    throw Error(errc::backend_unavailable, hip_problem + "; the Vulkan fallback failed too: " +
                                               (e.context().empty() ? std::string(e.what()) : e.context()));
  }
  throw Error(errc::backend_unavailable, hip_problem + "; no Vulkan build to fall back to (" +
                                             std::string(kVulkanServerPathVariable) +
                                             " unset, no llama-server-vulkan installed by scripts/setup --gpu vulkan)");
}

}  // namespace

RuntimeChoice choose_runtime(const GpuDiscovery& discovery, const GpuInfo& gpu, const RocmOptions& options,
                             const std::optional<fs::path>& explicit_path, const llama_server::EnvLookup& env,
                             const DeviceProbe& probe, const InstalledBuilds& installed) {
  switch (options.runtime) {
    case Runtime::hip:
      return check_hip_binary(find_rocm_server_binary(explicit_path, env, installed.hip), gpu, options, probe);
    case Runtime::vulkan:
      return check_vulkan_binary(find_vulkan_server_binary(explicit_path, env, installed.vulkan), discovery, gpu,
                                 options, probe);
    case Runtime::automatic:
      break;
  }
  return choose_automatically(discovery, gpu, options, explicit_path, env, probe, installed);
}

}  // namespace inference::rocm
