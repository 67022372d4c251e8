#include "launch_plan.hpp"

#include "device_environment.hpp"
#include "gpu_discovery.hpp"
#include "inference/error.hpp"

namespace inference::rocm {

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
  plan.binary = find_rocm_server_binary(llama_server::explicit_server_path(options), env);
  return plan;
}

void apply_plan(const LaunchPlan& plan, llama_server::LaunchSpec& spec) {
  pin_device(spec, plan.gpu.index, plan.hsa_override);
}

}  // namespace inference::rocm
