#include "rocm_backend.hpp"

#include "amd_gpu.hpp"
#include "gpu_discovery.hpp"
#include "inference/error.hpp"
#include "inference/gguf/model_info_reader.hpp"
#include "inference/llama_server/engine_option_keys.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "launch_plan.hpp"
#include "rocm_options.hpp"

namespace inference::rocm {

namespace asio = boost::asio;

RocmBackend::RocmBackend(llama_server::EnvLookup env) : env_(std::move(env)) {}

Availability RocmBackend::available() const { return available_with(LoadOptions()); }

Availability RocmBackend::available_with(const LoadOptions& options) const {
  try {
    const DiscoveryPaths paths = discovery_paths_from_environment(env_);
    require_kfd(paths);
    const GpuInfo& gpu = select_gpu(discover_gpus(paths), -1);
    (void)gpu;
    Availability ready = Availability::yes();
    ready.executable = find_rocm_server_binary(llama_server::explicit_server_path(options), env_).string();
    return ready;
  } catch (const Error& e) {
    return Availability::no(e.context().empty() ? std::string(e.what()) : e.context());
  }
}

Availability RocmBackend::preflight(const std::string& path, const LoadOptions& options) const {
  try {
    const ModelInfo model = gguf::read_model_info(path);
    const LaunchPlan plan = plan_launch(model, options, env_);
    Availability fits = Availability::yes();
    fits.reason = "GPU " + std::to_string(plan.gpu.index) + " (" + plan.gpu.gfx_target + "): " +
                  (plan.gpu_layers == 0 ? std::string("CPU only (gpu_layers=0)")
                                        : std::to_string(to_mib(plan.fit.required_bytes)) + " MiB needed of " +
                                              std::to_string(to_mib(plan.fit.free_bytes)) + " MiB free, " +
                                              std::to_string(plan.fit.layers) + " layers offloaded");
    return fits;
  } catch (const Error& e) {
    return Availability::no(e.what());
  }
}

asio::awaitable<std::shared_ptr<TextModel>> RocmBackend::load_model(std::string path, LoadOptions options) {
  ModelInfo model = gguf::read_model_info(path);
  const LaunchPlan plan = plan_launch(model, options, env_);
  options.gpu_layers = plan.gpu_layers;
  options.backend_options[std::string(llama_server::engine_option::kServerPath.name)] = plan.binary.string();
  llama_server::LaunchCustomizer customize = [plan](llama_server::LaunchSpec& spec) { apply_plan(plan, spec); };
  std::vector<std::string> own_keys = rocm_option_keys();
  // The metadata read for the plan is the model's: the engine does not read it again.
  co_return co_await llama_server::LlamaServerModel::load(std::move(path), std::move(model), std::move(options),
                                                          std::move(customize), std::move(own_keys));
}

}  // namespace inference::rocm
