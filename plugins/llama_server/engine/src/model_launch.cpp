#include "inference/llama_server/model_launch.hpp"

#include <algorithm>
#include <thread>

#include "inference/error.hpp"
#include "inference/gguf/model_info_reader.hpp"
#include "inference/llama_server/engine_options.hpp"
#include "inference/llama_server/rpc_worker_check.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "inference/llama_server/serving_context.hpp"

namespace inference::llama_server {

namespace {

// llama-server's spellings of the thread-count flags: a user who set one decides alone.
bool sets_threads(const std::vector<std::string>& args) {
  return std::any_of(args.begin(), args.end(), [](const std::string& arg) {
    return arg == "-t" || arg == "--threads" || arg.rfind("--threads=", 0) == 0;
  });
}

// Only the keys the plan needs (replicas, rpc); the engine checks every key when it loads.
EngineOptions plan_keys(const LoadOptions& options) {
  std::map<std::string, std::string> keys;
  for (const std::string_view name : {engine_option::kReplicas.name, engine_option::kRpc.name}) {
    const auto key = options.backend_options.find(std::string(name));
    if (key != options.backend_options.end()) keys.insert(*key);
  }
  return parse_engine_options(keys);
}

ModelLaunch rpc_model_launch(const std::string& path, const LoadOptions& options,
                             const std::vector<RpcWorker>& workers) {
  if (options.gpu_layers == 0) {
    throw Error(errc::invalid_argument,
                "backend option rpc with gpu_layers=0 would keep every layer local: leave gpu_layers unset (all)");
  }
  ModelLaunch launch;
  launch.info = gguf::read_model_info(path);
  launch.options = options;
  if (!explicit_server_path(options)) {
    const std::optional<std::filesystem::path> rpc_build = configured_runtime_server_binary("rpc");
    if (!rpc_build) {
      throw Error(errc::backend_unavailable,
                  "backend option rpc needs the llama-server build with ggml's RPC backend (llama-server-rpc next to "
                  "the configured llama-server; scripts/install-llama-server-gpu rpc), or server_path naming one");
    }
    launch.options.backend_options[std::string(engine_option::kServerPath.name)] = rpc_build->string();
  }
  launch.info.serving_device = rpc_serving_device(workers);
  ReplicaLaunch& replica = launch.replicas.emplace_back();
  replica.device = launch.info.serving_device;
  replica.customize = [argument = rpc_argument(workers)](LaunchSpec& spec) {
    spec.extra_args.insert(spec.extra_args.end(), {"--rpc", argument});
    spec.environment_set.emplace_back(kNoBacktraceVariable, "1");
  };
  replica.remote_gone = [workers] { return rpc_workers_gone(workers); };
  return launch;
}

}  // namespace

ModelLaunch plain_model_launch(const std::string& path, const LoadOptions& options) {
  const EngineOptions plan = plan_keys(options);
  if (!plan.rpc_workers.empty()) return rpc_model_launch(path, options, plan.rpc_workers);
  const uint32_t replicas = plan.replicas;

  ModelLaunch launch;
  launch.info = gguf::read_model_info(path);
  launch.options = options;
  const ServingContext serving =
      fit_host_memory(launch.info, options, host_memory_budget(options.backend_options), replicas);
  launch.options.context_len = serving.context_per_slot;
  launch.info.serving_context_per_slot = serving.context_per_slot;
  launch.info.serving_context_reason = serving.reason;
  launch.info.serving_device = "CPU";
  launch.replicas.resize(replicas);
  if (replicas == 1) return launch;
  const auto server_args = options.backend_options.find(std::string(engine_option::kServerArgs.name));
  const bool user_threads = server_args != options.backend_options.end() &&
                            sets_threads(parse_engine_options({{server_args->first, server_args->second}}).server_args);
  if (user_threads) {
    for (ReplicaLaunch& replica : launch.replicas) replica.device = "CPU (threads from server_args)";
    return launch;
  }
  // Replicas on the same CPU would otherwise each start one thread per core and fight over them.
  const uint32_t cores = std::max(1U, std::thread::hardware_concurrency());
  const uint32_t threads = std::max(1U, cores / replicas);
  const std::string device = "CPU (" + std::to_string(threads) + (threads == 1 ? " thread)" : " threads)");
  for (ReplicaLaunch& replica : launch.replicas) {
    replica.device = device;
    replica.customize = [threads](LaunchSpec& spec) {
      spec.extra_args.push_back("--threads");
      spec.extra_args.push_back(std::to_string(threads));
    };
  }
  return launch;
}

void report_serving(ModelLaunch& launch) {
  ModelInfo& info = launch.info;
  if (info.serving_context_per_slot == 0) {
    if (launch.options.context_len != 0) {
      const ServingContext asked = asked_context(launch.options.context_len);
      info.serving_context_per_slot = asked.context_per_slot;
      info.serving_context_reason = asked.reason;
    } else {
      // -c 0: llama-server allocates the training context and splits it over the slots.
      const uint32_t slots = std::max(1U, launch.options.parallel_slots);
      info.serving_context_per_slot = info.context_length / slots;
      info.serving_context_reason = std::to_string(info.serving_context_per_slot) +
                                    " tokens per slot: the model's training context (" +
                                    std::to_string(info.context_length) + ") split over " + std::to_string(slots) +
                                    (slots == 1 ? " slot" : " slots") + " (context_len unset, no fit check)";
    }
  }
  if (info.serving_device.empty()) {
    for (const ReplicaLaunch& replica : launch.replicas) {
      if (replica.device.empty() || info.serving_device.find(replica.device) != std::string::npos) continue;
      info.serving_device += (info.serving_device.empty() ? "" : ", ") + replica.device;
    }
  }
}

}  // namespace inference::llama_server
