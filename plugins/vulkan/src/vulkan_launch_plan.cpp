#include "vulkan_launch_plan.hpp"

#include <algorithm>

#include "inference/error.hpp"
#include "inference/llama_server/engine_option_keys.hpp"

namespace inference::vulkan {

namespace {

using llama_server::to_mib;

// The engine option replicas: one device per model, so anything but 1 is refused.
void refuse_replicas(const LoadOptions& options) {
  const auto it = options.backend_options.find(std::string(llama_server::engine_option::kReplicas.name));
  if (it == options.backend_options.end()) return;
  const std::optional<std::uint32_t> replicas = llama_server::engine_option::replicas_from(it->second);
  if (!replicas) throw Error(errc::invalid_argument, llama_server::engine_option::replicas_refusal(it->second));
  if (*replicas == 1) return;
  throw Error(errc::invalid_argument, "the vulkan backend runs one replica on one device, not replicas=" + it->second +
                                          ": load the model once per device (LoadOptions.device) instead");
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

}  // namespace

VulkanLaunchPlan plan_vulkan_launch(const ModelInfo& model, const LoadOptions& options,
                                    const llama_server::EnvLookup& env, const DeviceProbe& probe) {
  const VulkanOptions vulkan = parse_vulkan_options(options.backend_options, env);
  refuse_replicas(options);
  VulkanLaunchPlan plan;
  plan.binary = find_vulkan_server_binary(llama_server::explicit_server_path(options), env);
  const VulkanInventory inventory = enumerate_vulkan_devices(plan.binary, probe);
  const int index = choose_device(inventory, vulkan.device.value_or(options.device), vulkan.allow_software).index;
  // Afresh: the cached list has the free memory of the first probe, maybe hours ago.
  plan.device = probe_vulkan_device(plan.binary, index, probe);
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
