#include "launch_plan.hpp"

#include <algorithm>
#include "device_environment.hpp"
#include "gpu_discovery.hpp"

#include "inference/error.hpp"
#include "inference/llama_server/engine_option_keys.hpp"
#include "inference/llama_server/serving_context.hpp"

namespace inference::rocm {

using llama_server::describe_shortfall;
using llama_server::estimate_fit;
using llama_server::FitEstimate;
using llama_server::layers_that_fit;
using llama_server::total_context;

namespace {

// Why a gpu_layers=0 load without context_len serves what it serves (llama-server's -c 0).
constexpr std::string_view kUncheckedTrainingContext =
    "the model's training context split over the slots (gpu_layers=0: no fit check)";

// "GPU 0 (gfx1100)": the GPU as the chosen context's reason and ModelInfo::serving_device name it.
std::string short_name(const GpuInfo& gpu) {
  return "GPU " + std::to_string(gpu.index) + " (" + (gpu.gfx_target.empty() ? "unknown gfx" : gpu.gfx_target) + ")";
}

// An explicit context_len (never changed): the model fits with the asked layers, or with
// auto_offload=1 and all layers asked the layers that fit, or the load is refused.
void fit_asked_context(const ModelInfo& model, const LoadOptions& options, const RocmOptions& rocm, LaunchPlan& plan) {
  const std::uint64_t context = total_context(model, options.context_len, options.parallel_slots);
  plan.fit = estimate_fit(model, context, plan.gpu_layers, plan.gpu.vram_free());
  plan.context_per_slot = options.context_len;
  plan.context_reason = llama_server::asked_context(options.context_len).reason;
  if (plan.fit.fits()) return;
  const bool all_layers_asked = plan.gpu_layers < 0;
  const std::int32_t layers = layers_that_fit(model, context, plan.gpu.vram_free());
  if (!rocm.auto_offload || !all_layers_asked || layers == 0) {
    std::string hint = rocm.auto_offload && all_layers_asked
                           ? "; not even one layer fits: use gpu_layers=0 or free VRAM"
                           : "; lower context_len or parallel_slots, set gpu_layers (about " + std::to_string(layers) +
                                 " fit), or set backend option auto_offload=1";
    throw Error(errc::invalid_argument, describe_shortfall(model, plan.fit, plan.gpu.describe()) + hint);
  }
  plan.gpu_layers = layers;
  plan.fit = estimate_fit(model, context, layers, plan.gpu.vram_free());
}

// context_len unset: the largest context that fits with the asked layers (choose_context()). When
// not even the floor context fits, the refusal names the GPU as the other refusals do; with
// auto_offload=1 and all layers asked, the floor context with the layers that fit at it instead (a
// usable context matters more than the last layers).
void choose_gpu_context(const ModelInfo& model, const LoadOptions& options, const RocmOptions& rocm, LaunchPlan& plan) {
  const std::uint32_t slots = std::max<std::uint32_t>(options.parallel_slots, 1);
  const std::uint32_t floor =
      static_cast<std::uint32_t>(std::min<std::uint64_t>(llama_server::kMinChosenContextPerSlot, model.context_length));
  const std::uint64_t floor_context = std::uint64_t{floor} * slots;
  const FitEstimate at_floor = estimate_fit(model, floor_context, plan.gpu_layers, plan.gpu.vram_free());
  const bool shapeless = model.context_length == 0 || model.block_count == 0;  // choose_context() refuses it
  if (at_floor.fits() || shapeless) {
    llama_server::ContextChoice choice = llama_server::choose_context(model, options.parallel_slots, plan.gpu_layers,
                                                                      plan.gpu.vram_free(), short_name(plan.gpu));
    plan.context_per_slot = choice.context_per_slot;
    plan.context_reason = std::move(choice.reason);
    plan.fit = choice.fit;
    return;
  }
  const bool all_layers_asked = plan.gpu_layers < 0;
  const std::int32_t layers = layers_that_fit(model, floor_context, plan.gpu.vram_free());
  if (!rocm.auto_offload || !all_layers_asked || layers == 0) {
    const std::string hint = rocm.auto_offload && all_layers_asked
                                 ? "; not even one layer fits: use gpu_layers=0 or free VRAM"
                                 : "; lower parallel_slots, set gpu_layers (about " + std::to_string(layers) +
                                       " fit) or context_len, or set backend option auto_offload=1";
    throw Error(errc::invalid_argument, describe_shortfall(model, at_floor, plan.gpu.describe()) +
                                            " at the smallest context chosen unasked (" + std::to_string(floor) +
                                            " tokens per slot × " + std::to_string(slots) + " slots)" + hint);
  }
  plan.gpu_layers = layers;
  plan.fit = estimate_fit(model, floor_context, layers, plan.gpu.vram_free());
  plan.context_per_slot = floor;
  plan.context_reason = std::to_string(floor) + " tokens per slot (" + std::to_string(slots) +
                        (slots == 1 ? " slot" : " slots") + "): the smallest context chosen unasked, with the " +
                        std::to_string(layers) + " of " + std::to_string(model.block_count) + " layers that fit " +
                        short_name(plan.gpu) + " at it (auto_offload=1; " +
                        std::to_string(to_mib(plan.fit.required_bytes)) + " MiB needed of " +
                        std::to_string(to_mib(plan.fit.free_bytes)) + " MiB free); the model was trained for " +
                        std::to_string(model.context_length);
}

}  // namespace

LaunchPlan plan_launch(const ModelInfo& model, const LoadOptions& options, const llama_server::EnvLookup& env) {
  const RocmOptions rocm = parse_rocm_options(options.backend_options, env);
  require_kfd(rocm.paths);
  const GpuDiscovery discovery = discover_gpus(rocm.paths);

  LaunchPlan plan;
  plan.gpu = select_gpu(discovery, options.device);
  plan.hsa_override = rocm.hsa_override;
  plan.gpu_layers = options.gpu_layers;
  if (plan.gpu_layers == 0) {
    // CPU only: no VRAM to fit, and llama-server maps the weights, so no fit check (as before).
    plan.context_per_slot = options.context_len;
    plan.context_reason = options.context_len == 0 ? std::string(kUncheckedTrainingContext)
                                                   : llama_server::asked_context(options.context_len).reason;
  } else if (options.context_len == 0) {
    choose_gpu_context(model, options, rocm, plan);
  } else {
    fit_asked_context(model, options, rocm, plan);
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

// One model serves one context per slot: every replica gets the smallest chosen (it fits every
// GPU, the estimate growing with the context), with the reason of the GPU that limits it.
void share_smallest_context(const ModelInfo& model, const LoadOptions& options, std::vector<LaunchPlan>& plans) {
  const auto smallest = std::min_element(plans.begin(), plans.end(), [](const LaunchPlan& a, const LaunchPlan& b) {
    return a.context_per_slot < b.context_per_slot;
  });
  const std::uint32_t context_per_slot = smallest->context_per_slot;
  const std::string reason = smallest->context_reason;
  for (LaunchPlan& plan : plans) {
    if (plan.context_per_slot == context_per_slot) continue;
    plan.context_per_slot = context_per_slot;
    plan.context_reason = reason;
    if (plan.gpu_layers != 0) {
      plan.fit = estimate_fit(model, total_context(model, context_per_slot, options.parallel_slots), plan.gpu_layers,
                              plan.gpu.vram_free());
    }
  }
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
  if (options.context_len == 0) share_smallest_context(model, options, plans);
  return plans;
}

// --- The runtime (HIP or Vulkan build), chosen after the GPU and the fit: runtime_choice.hpp ---

void choose_plan_runtime(LaunchPlan& plan, const LoadOptions& options, const llama_server::EnvLookup& env,
                         const DeviceProbe& probe) {
  const RocmOptions rocm = parse_rocm_options(options.backend_options, env);
  plan.runtime = choose_runtime(discover_gpus(rocm.paths), plan.gpu, rocm, llama_server::explicit_server_path(options),
                                env, probe);
}

void describe_serving(const std::vector<LaunchPlan>& plans, ModelInfo& info) {
  if (plans.empty()) return;
  // 0 (gpu_layers=0 without context_len): the engine's report_serving() names the number.
  if (plans.front().context_per_slot != 0) {
    info.serving_context_per_slot = plans.front().context_per_slot;
    info.serving_context_reason = plans.front().context_reason;
  }
  info.serving_device.clear();
  for (const LaunchPlan& plan : plans) {
    std::string device = plan.gpu_layers == 0                  ? std::string("CPU (gpu_layers=0)")
                         : plan.runtime.serving_device.empty() ? short_name(plan.gpu)
                                                               : plan.runtime.serving_device;
    if (plan.gpu_layers > 0 && static_cast<std::uint64_t>(plan.gpu_layers) < info.block_count) {
      device += " with " + std::to_string(plan.gpu_layers) + " of " + std::to_string(info.block_count) + " layers";
    }
    if (info.serving_device.find(device) != std::string::npos) continue;
    info.serving_device += (info.serving_device.empty() ? "" : ", ") + device;
  }
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
