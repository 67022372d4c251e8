#include "rocm_backend.hpp"

#include "amd_gpu.hpp"
#include "gpu_discovery.hpp"
#include "inference/error.hpp"
#include "inference/gguf/model_info_reader.hpp"
#include "inference/llama_server/engine_option_keys.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "inference/llama_server/server_devices.hpp"
#include "launch_plan.hpp"
#include "rocm_options.hpp"

namespace inference::rocm {

namespace asio = boost::asio;

RocmBackend::RocmBackend(llama_server::EnvLookup env, DeviceProbe probe)
    : env_(std::move(env)), probe_(std::move(probe)) {}

DeviceProbe RocmBackend::server_device_probe() {
  return [](const std::filesystem::path& binary, const llama_server::ProbeEnvironment& environment) {
    return llama_server::probe_server_devices_blocking(binary, environment);
  };
}

Availability RocmBackend::available() const { return available_with(LoadOptions()); }

Availability RocmBackend::available_with(const LoadOptions& options) const {
  try {
    const RocmOptions rocm = parse_rocm_options(options.backend_options, env_);
    require_kfd(rocm.paths);
    const GpuDiscovery discovery = discover_gpus(rocm.paths);
    const GpuInfo& gpu = select_gpu(discovery, options.device);
    const RuntimeChoice choice =
        choose_runtime(discovery, gpu, rocm, llama_server::explicit_server_path(options), env_, probe_);
    Availability ready = Availability::yes();
    ready.executable = choice.binary.string();
    ready.devices = choice.devices;
    ready.reason = choice.reason;
    return ready;
  } catch (const Error& e) {
    return Availability::no(e.context().empty() ? std::string(e.what()) : e.context());
  }
}

namespace {

// "GPU 0 (gfx1100): 1200 MiB needed of 16073 MiB free, 32 layers offloaded".
std::string describe_fit(const LaunchPlan& plan) {
  return "GPU " + std::to_string(plan.gpu.index) + " (" + plan.gpu.gfx_target + "): " +
         (plan.gpu_layers == 0 ? std::string("CPU only (gpu_layers=0)")
                               : std::to_string(to_mib(plan.fit.required_bytes)) + " MiB needed of " +
                                     std::to_string(to_mib(plan.fit.free_bytes)) + " MiB free, " +
                                     std::to_string(plan.fit.layers) + " layers offloaded");
}

}  // namespace

// Every GPU the load would use (the devices option, or replicas=N), judged as the load judges it.
Availability RocmBackend::preflight(const std::string& path, const LoadOptions& options) const {
  try {
    const ModelInfo model = gguf::read_model_info(path);
    Availability fits = Availability::yes();
    std::string runtime;
    std::vector<LaunchPlan> plans = plan_replica_launches(model, options, env_);
    for (LaunchPlan& plan : plans) {
      choose_plan_runtime(plan, options, env_, probe_);
      fits.reason += (fits.reason.empty() ? "" : "; ") + describe_fit(plan);
      fits.executable = plan.runtime.binary.string();
      fits.devices.insert(fits.devices.end(), plan.runtime.devices.begin(), plan.runtime.devices.end());
      runtime = plan.runtime.reason;  // the same build for every replica
    }
    fits.reason += "; " + runtime;
    // The context the load would serve and why (the same on every GPU).
    fits.reason += "; context " + plans.front().context_reason;
    return fits;
  } catch (const Error& e) {
    return Availability::no(e.what());
  }
}

// One replica per planned GPU, each pinned to it, with the layers that fit there; a replica whose
// GPU leaves sysfs is reported instead of restarted. The planner runs again for reload().
asio::awaitable<std::shared_ptr<TextModel>> RocmBackend::load_model(std::string path, LoadOptions options) {
  llama_server::LaunchPlanner planner = [env = env_, probe = probe_](const std::string& model_path,
                                                                     const LoadOptions& asked) {
    llama_server::ModelLaunch launch;
    launch.info = gguf::read_model_info(model_path);
    std::vector<LaunchPlan> plans = plan_replica_launches(launch.info, asked, env);
    for (LaunchPlan& plan : plans) choose_plan_runtime(plan, asked, env, probe);
    const DiscoveryPaths paths = parse_rocm_options(asked.backend_options, env).paths;
    launch.options = asked;
    launch.options.gpu_layers = plans.front().gpu_layers;         // each replica sets its own (apply_plan)
    launch.options.context_len = plans.front().context_per_slot;  // the same for every replica
    describe_serving(plans, launch.info);
    launch.options.backend_options[std::string(llama_server::engine_option::kServerPath.name)] =
        plans.front().runtime.binary.string();
    for (const LaunchPlan& plan : plans) {
      llama_server::ReplicaLaunch replica;
      replica.customize = [plan](llama_server::LaunchSpec& spec) { apply_plan(plan, spec); };
      replica.device = "GPU " + std::to_string(plan.gpu.index) + " (" + plan.gpu.gfx_target + ")";
      replica.device_gone = [plan, paths] { return gpu_gone(plan, paths); };
      launch.replicas.push_back(std::move(replica));
    }
    return launch;
  };
  co_return co_await llama_server::LlamaServerModel::load_planned(std::move(path), std::move(options),
                                                                  std::move(planner), rocm_option_keys());
}

}  // namespace inference::rocm
