#include "vulkan_backend.hpp"

#include "inference/error.hpp"
#include "inference/gguf/model_info_reader.hpp"
#include "inference/llama_server/engine_option_keys.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "vulkan_launch_plan.hpp"
#include "vulkan_options.hpp"

namespace inference::vulkan {

namespace asio = boost::asio;

VulkanBackend::VulkanBackend(llama_server::EnvLookup env, DeviceProbe probe)
    : env_(std::move(env)), probe_(std::move(probe)) {}

Availability VulkanBackend::available() const { return available_with(LoadOptions()); }

Availability VulkanBackend::available_with(const LoadOptions& options) const {
  Availability result;
  try {
    const VulkanOptions vulkan = parse_vulkan_options(options.backend_options, env_);
    const auto binary = find_vulkan_server_binary(llama_server::explicit_server_path(options), env_);
    result.executable = binary.string();
    const VulkanInventory inventory = enumerate_vulkan_devices(binary, probe_);
    result.devices = describe_devices(inventory);
    (void)choose_device(inventory, -1, vulkan.allow_software);
    result.available = true;
  } catch (const Error& e) {
    result.available = false;
    result.reason = e.context().empty() ? std::string(e.what()) : e.context();
  }
  return result;
}

namespace {

// "Vulkan0: … (1200 MiB needed of 23106 MiB free)" for each replica's device.
std::string describe_fit(const VulkanLaunchPlan& plan) {
  if (plan.gpu_layers == 0) return serving_device(plan) + ": CPU only (gpu_layers=0)";
  return serving_device(plan) + ": " + std::to_string(llama_server::to_mib(plan.fit.required_bytes)) +
         " MiB needed of " + std::to_string(llama_server::to_mib(plan.usable_bytes)) + " MiB free";
}

// The plans as the engine's launch: one replica per plan, pinned to its device.
llama_server::ModelLaunch model_launch(ModelInfo info, const LoadOptions& asked,
                                       const std::vector<VulkanLaunchPlan>& plans) {
  llama_server::ModelLaunch launch;
  launch.info = std::move(info);
  launch.info.serving_context_per_slot = plans.front().context_per_slot;
  launch.info.serving_context_reason = plans.front().context_reason;
  launch.options = asked;
  launch.options.context_len = plans.front().context_per_slot;
  launch.options.gpu_layers = plans.front().gpu_layers;
  launch.options.backend_options[std::string(llama_server::engine_option::kServerPath.name)] =
      plans.front().binary.string();
  for (const VulkanLaunchPlan& plan : plans) {
    llama_server::ReplicaLaunch replica;
    replica.customize = [plan](llama_server::LaunchSpec& spec) { apply_vulkan_plan(plan, spec); };
    replica.device = serving_device(plan);
    launch.info.serving_device += (launch.info.serving_device.empty() ? "" : "; ") + replica.device;
    launch.replicas.push_back(std::move(replica));
  }
  return launch;
}

}  // namespace

// Every device the load would use, judged as the load judges it.
Availability VulkanBackend::preflight(const std::string& path, const LoadOptions& options) const {
  try {
    const ModelInfo model = gguf::read_model_info(path);
    const std::vector<VulkanLaunchPlan> plans = plan_vulkan_launches(model, options, env_, probe_);
    Availability fits = Availability::yes();
    fits.executable = plans.front().binary.string();
    for (const VulkanLaunchPlan& plan : plans) fits.reason += (fits.reason.empty() ? "" : "; ") + describe_fit(plan);
    fits.reason += "; " + plans.front().context_reason;
    return fits;
  } catch (const Error& e) {
    return Availability::no(e.what());
  }
}

asio::awaitable<std::shared_ptr<TextModel>> VulkanBackend::load_model(std::string path, LoadOptions options) {
  llama_server::LaunchPlanner planner = [env = env_, probe = probe_](const std::string& model_path,
                                                                     const LoadOptions& asked) {
    ModelInfo info = gguf::read_model_info(model_path);
    const std::vector<VulkanLaunchPlan> plans = plan_vulkan_launches(info, asked, env, probe);
    return model_launch(std::move(info), asked, plans);
  };
  co_return co_await llama_server::LlamaServerModel::load_planned(std::move(path), std::move(options),
                                                                  std::move(planner), vulkan_option_keys());
}

}  // namespace inference::vulkan
