#include "launch_plan.hpp"

#include <algorithm>
#include "device_environment.hpp"
#include "gpu_discovery.hpp"

#include "inference/error.hpp"
#include "inference/llama_server/engine_option_keys.hpp"

namespace inference::rocm {

using llama_server::describe_shortfall;
using llama_server::estimate_fit;
using llama_server::layers_that_fit;
using llama_server::total_context;

LaunchPlan plan_launch(const ModelInfo& model, const LoadOptions& options, const llama_server::EnvLookup& env) {
  const RocmOptions rocm = parse_rocm_options(options.backend_options, env);
  require_kfd(rocm.paths);
  const GpuDiscovery discovery = discover_gpus(rocm.paths);

  LaunchPlan plan;
  plan.gpu = select_gpu(discovery, options.device);
  plan.hsa_override = rocm.hsa_override;
  plan.gpu_layers = options.gpu_layers;
  if (plan.gpu_layers != 0) {
    const std::uint64_t context = total_context(model, options.context_len, options.parallel_slots);
    plan.fit = estimate_fit(model, context, plan.gpu_layers, plan.gpu.vram_free());
    if (!plan.fit.fits()) {
      const bool all_layers_asked = plan.gpu_layers < 0;
      const std::int32_t layers = layers_that_fit(model, context, plan.gpu.vram_free());
      if (!rocm.auto_offload || !all_layers_asked || layers == 0) {
        std::string hint = rocm.auto_offload && all_layers_asked
                               ? "; not even one layer fits: use gpu_layers=0 or free VRAM"
                               : "; lower context_len or parallel_slots, set gpu_layers (about " +
                                     std::to_string(layers) + " fit), or set backend option auto_offload=1";
        throw Error(errc::invalid_argument, describe_shortfall(model, plan.fit, plan.gpu.describe()) + hint);
      }
      plan.gpu_layers = layers;
      plan.fit = estimate_fit(model, context, layers, plan.gpu.vram_free());
    }
  }
  return plan;
}

namespace {

// The engine option replicas, when given (the engine checks its range again).
std::optional<std::uint32_t> replicas_option(const LoadOptions& options) {
  const auto it = options.backend_options.find(std::string(llama_server::engine_option::kReplicas.name));
  if (it == options.backend_options.end()) return std::nullopt;
  const std::optional<std::uint32_t> replicas = llama_server::engine_option::replicas_from(it->second);
  if (!replicas) throw Error(errc::invalid_argument, llama_server::engine_option::replicas_refusal(it->second));
  return replicas;
}

// The `count` usable GPUs with the most free VRAM (lowest index on ties), as HIP indices.
std::vector<int> roomiest_gpus(const GpuDiscovery& discovery, std::uint32_t count) {
  std::vector<const GpuInfo*> usable;
  for (const GpuInfo& gpu : discovery.gpus) {
    if (gpu.usable()) usable.push_back(&gpu);
  }
  if (usable.size() < count) {
    // Every GPU and every unreadable one, not only the usable: the user counts their cards, and
    // the list shows which were integrated or could not be read.
    std::string found;
    for (const GpuInfo& gpu : discovery.gpus) found += (found.empty() ? "" : "; ") + gpu.describe();
    for (const std::string& problem : discovery.problems) found += (found.empty() ? "" : "; ") + problem;
    throw Error(errc::invalid_argument,
                "replicas=" + std::to_string(count) + " needs " + std::to_string(count) + " usable AMD GPUs, found " +
                    std::to_string(usable.size()) +
                    (found.empty() ? std::string(" (no GPU in the KFD topology)") : " among: " + found));
  }
  std::stable_sort(usable.begin(), usable.end(),
                   [](const GpuInfo* a, const GpuInfo* b) { return a->vram_free() > b->vram_free(); });
  std::vector<int> indices;
  for (std::uint32_t i = 0; i < count; ++i) indices.push_back(usable[i]->index);
  return indices;
}

}  // namespace

std::vector<LaunchPlan> plan_replica_launches(const ModelInfo& model, const LoadOptions& options,
                                              const llama_server::EnvLookup& env) {
  const RocmOptions rocm = parse_rocm_options(options.backend_options, env);
  const std::optional<std::uint32_t> replicas = replicas_option(options);
  std::vector<int> devices = rocm.devices;
  if (!devices.empty() && replicas && *replicas != devices.size()) {
    throw Error(errc::invalid_argument, "backend options replicas=" + std::to_string(*replicas) + " and devices (" +
                                            std::to_string(devices.size()) +
                                            " GPUs) disagree: one replica runs per device");
  }
  if (devices.empty()) {
    if (!replicas || *replicas == 1) return {plan_launch(model, options, env)};
    require_kfd(rocm.paths);
    devices = roomiest_gpus(discover_gpus(rocm.paths), *replicas);
  }
  std::vector<LaunchPlan> plans;
  for (const int device : devices) {
    LoadOptions one = options;
    one.device = device;
    plans.push_back(plan_launch(model, one, env));
  }
  return plans;
}

// --- The runtime (HIP or Vulkan build), chosen after the GPU and the fit: runtime_choice.hpp ---

void choose_plan_runtime(LaunchPlan& plan, const LoadOptions& options, const llama_server::EnvLookup& env,
                         const DeviceProbe& probe) {
  const RocmOptions rocm = parse_rocm_options(options.backend_options, env);
  plan.runtime = choose_runtime(discover_gpus(rocm.paths), plan.gpu, rocm, llama_server::explicit_server_path(options),
                                env, probe);
}

void apply_plan(const LaunchPlan& plan, llama_server::LaunchSpec& spec) {
  if (plan.runtime.runtime == Runtime::vulkan) {
    pin_vulkan_device(spec, plan.runtime.vulkan_index);
  } else {
    pin_device(spec, plan.gpu.index, plan.hsa_override);
  }
  spec.gpu_layers = plan.gpu_layers < 0 ? llama_server::kAllGpuLayers : plan.gpu_layers;
}

std::optional<std::string> gpu_gone(const LaunchPlan& plan, const DiscoveryPaths& paths) {
  const std::filesystem::path node = paths.sysfs_root / "class" / "kfd" / "kfd" / "topology" / "nodes" /
                                     std::to_string(plan.gpu.kfd_node) / "properties";
  const std::filesystem::path render =
      paths.sysfs_root / "class" / "drm" / ("renderD" + std::to_string(plan.gpu.render_minor));
  std::error_code ec;
  for (const auto& path : {node, render}) {
    if (!std::filesystem::exists(path, ec)) {
      return "GPU " + std::to_string(plan.gpu.index) + " (" + plan.gpu.gfx_target + ", renderD" +
             std::to_string(plan.gpu.render_minor) + ") is gone: " + path.string() + " no longer exists";
    }
  }
  return std::nullopt;
}

}  // namespace inference::rocm
