#include "vulkan_launch_plan.hpp"

#include <algorithm>

#include "inference/error.hpp"
#include "inference/llama_server/engine_option_keys.hpp"

namespace inference::vulkan {

namespace {

using llama_server::to_mib;

// The engine option replicas, when given (the engine checks its range again).
std::optional<std::uint32_t> replicas_option(const LoadOptions& options) {
  const auto it = options.backend_options.find(std::string(llama_server::engine_option::kReplicas.name));
  if (it == options.backend_options.end()) return std::nullopt;
  const std::optional<std::uint32_t> replicas = llama_server::engine_option::replicas_from(it->second);
  if (!replicas) throw Error(errc::invalid_argument, llama_server::engine_option::replicas_refusal(it->second));
  return replicas;
}

// The `count` allowed devices with the most free memory (lowest index on ties).
std::vector<int> roomiest_devices(const VulkanInventory& inventory, std::uint32_t count, bool allow_software) {
  std::vector<const VulkanDevice*> allowed;
  for (const VulkanDevice& device : inventory.devices) {
    if (allow_software || !device.device.software()) allowed.push_back(&device);
  }
  if (allowed.empty()) (void)choose_device(inventory, -1, allow_software);  // throws why none is usable
  if (allowed.size() < count) {
    std::string found;
    for (const std::string& line : describe_devices(inventory)) found += (found.empty() ? "" : "; ") + line;
    throw Error(errc::invalid_argument, "replicas=" + std::to_string(count) + " needs " + std::to_string(count) +
                                            " usable Vulkan devices, found " + std::to_string(allowed.size()) +
                                            " among: " + found);
  }
  std::stable_sort(allowed.begin(), allowed.end(), [](const VulkanDevice* a, const VulkanDevice* b) {
    return a->device.free_mib > b->device.free_mib;
  });
  std::vector<int> indices;
  for (std::uint32_t i = 0; i < count; ++i) indices.push_back(allowed[i]->index);
  return indices;
}

// The device index of each replica.
std::vector<int> replica_devices(const VulkanInventory& inventory, const LoadOptions& options,
                                 const VulkanOptions& vulkan) {
  const std::optional<std::uint32_t> replicas = replicas_option(options);
  if (vulkan.devices.empty()) {
    if (replicas && *replicas > 1) return roomiest_devices(inventory, *replicas, vulkan.allow_software);
    return {choose_device(inventory, options.device, vulkan.allow_software).index};
  }
  if (replicas && *replicas != vulkan.devices.size()) {
    throw Error(errc::invalid_argument, "backend options replicas=" + std::to_string(*replicas) + " and devices (" +
                                            std::to_string(vulkan.devices.size()) +
                                            " devices) disagree: one replica runs per device");
  }
  for (const int index : vulkan.devices) (void)choose_device(inventory, index, vulkan.allow_software);
  return vulkan.devices;
}

// How messages name the device and the memory they count: "Vulkan0: llvmpipe (…)" with the
// cap when memory_limit_mib lowered it.
std::string fit_device_label(const VulkanLaunchPlan& plan, const VulkanOptions& vulkan) {
  std::string label = serving_device(plan);
  if (vulkan.memory_limit_mib && *vulkan.memory_limit_mib < plan.device.device.free_mib) {
    label += " (" + std::string(kMemoryLimitOption) + "=" + std::to_string(*vulkan.memory_limit_mib) + ")";
  }
  return label;
}

// Context and fit for a plan whose device and free memory are known.
void plan_fit(const ModelInfo& model, const LoadOptions& options, const VulkanOptions& vulkan, VulkanLaunchPlan& plan) {
  const std::uint32_t slots = std::max<std::uint32_t>(options.parallel_slots, 1);
  const std::string device = fit_device_label(plan, vulkan);
  if (options.context_len == 0) {
    llama_server::ContextChoice choice =
        llama_server::choose_context(model, slots, plan.gpu_layers, plan.usable_bytes, device);
    plan.context_per_slot = choice.context_per_slot;
    plan.context_reason = std::move(choice.reason);
    plan.fit = choice.fit;
    return;
  }
  plan.context_per_slot = options.context_len;
  const std::uint64_t context = llama_server::total_context(model, options.context_len, slots);
  plan.fit = llama_server::estimate_fit(model, context, plan.gpu_layers, plan.usable_bytes);
  if (!plan.fit.fits()) {
    throw Error(errc::invalid_argument, llama_server::describe_shortfall(model, plan.fit, device) +
                                            "; lower context_len or parallel_slots, or set gpu_layers");
  }
  plan.context_reason = std::to_string(options.context_len) + " tokens per slot (" + std::to_string(slots) +
                        (slots == 1 ? " slot" : " slots") + "): as asked (context_len); " +
                        std::to_string(to_mib(plan.fit.required_bytes)) + " MiB needed of " +
                        std::to_string(to_mib(plan.usable_bytes)) + " MiB free on " + device;
}

// The plan of one replica on device `index` of `binary`.
VulkanLaunchPlan plan_on(const ModelInfo& model, const LoadOptions& options, const VulkanOptions& vulkan,
                         const std::filesystem::path& binary, int index, const DeviceProbe& probe) {
  VulkanLaunchPlan plan;
  plan.binary = binary;
  // Afresh: the cached list has the free memory of the first probe, maybe hours ago.
  plan.device = probe_vulkan_device(binary, index, probe);
  plan.usable_bytes = plan.device.device.free_mib * llama_server::kMiB;
  if (vulkan.memory_limit_mib) {
    plan.usable_bytes = std::min(plan.usable_bytes, *vulkan.memory_limit_mib * llama_server::kMiB);
  }
  plan.gpu_layers = options.gpu_layers;
  if (plan.gpu_layers != 0) {
    plan_fit(model, options, vulkan, plan);
  } else {
    plan.context_per_slot = options.context_len;
    plan.context_reason = "gpu_layers=0: the model runs on the CPU, no device memory is checked";
  }
  return plan;
}

// Several replicas with a chosen context: the engine runs one, so each gets the smallest choice
// (which fits every device, the estimate growing with the context) and its reason.
void share_smallest_context(const ModelInfo& model, const LoadOptions& options, std::vector<VulkanLaunchPlan>& plans) {
  const auto smallest = std::min_element(
      plans.begin(), plans.end(), [](const auto& a, const auto& b) { return a.context_per_slot < b.context_per_slot; });
  const std::uint32_t context = smallest->context_per_slot;
  const std::string reason = smallest->context_reason + " (the smallest of " + std::to_string(plans.size()) +
                             " replicas' devices; every replica uses it)";
  const std::uint32_t slots = std::max<std::uint32_t>(options.parallel_slots, 1);
  for (VulkanLaunchPlan& plan : plans) {
    plan.context_per_slot = context;
    plan.context_reason = reason;
    plan.fit = llama_server::estimate_fit(model, static_cast<std::uint64_t>(context) * slots, plan.gpu_layers,
                                          plan.usable_bytes);
  }
}

}  // namespace

std::vector<VulkanLaunchPlan> plan_vulkan_launches(const ModelInfo& model, const LoadOptions& options,
                                                   const llama_server::EnvLookup& env, const DeviceProbe& probe) {
  const VulkanOptions vulkan = parse_vulkan_options(options.backend_options, env);
  const std::filesystem::path binary = find_vulkan_server_binary(llama_server::explicit_server_path(options), env);
  const VulkanInventory inventory = enumerate_vulkan_devices(binary, probe);
  std::vector<VulkanLaunchPlan> plans;
  for (const int index : replica_devices(inventory, options, vulkan)) {
    plans.push_back(plan_on(model, options, vulkan, binary, index, probe));
  }
  if (plans.size() > 1 && options.context_len == 0 && options.gpu_layers != 0) {
    share_smallest_context(model, options, plans);
  }
  return plans;
}

std::string serving_device(const VulkanLaunchPlan& plan) {
  return plan.device.device.name + ": " + plan.device.device.description;
}

void apply_vulkan_plan(const VulkanLaunchPlan& plan, llama_server::LaunchSpec& spec) {
  const std::string name(kVisibleDevicesVariable);
  std::erase_if(spec.environment_set, [&](const auto& entry) { return entry.first == name; });
  spec.environment_set.emplace_back(name, std::to_string(plan.device.index));
  spec.gpu_layers = plan.gpu_layers < 0 ? llama_server::kAllGpuLayers : plan.gpu_layers;
}

}  // namespace inference::vulkan
