#include "inference/llama_server/model_launch.hpp"

#include <algorithm>
#include <thread>

#include "inference/gguf/model_info_reader.hpp"
#include "inference/llama_server/engine_options.hpp"

namespace inference::llama_server {

namespace {

// llama-server's spellings of the thread-count flags: a user who set one decides alone.
bool sets_threads(const std::vector<std::string>& args) {
  return std::any_of(args.begin(), args.end(), [](const std::string& arg) {
    return arg == "-t" || arg == "--threads" || arg.rfind("--threads=", 0) == 0;
  });
}

}  // namespace

ModelLaunch plain_model_launch(const std::string& path, const LoadOptions& options) {
  // Only the keys the plan needs; the engine checks every key when it loads.
  const auto replicas_key = options.backend_options.find(std::string(engine_option::kReplicas.name));
  std::map<std::string, std::string> replicas_only;
  if (replicas_key != options.backend_options.end()) replicas_only.insert(*replicas_key);
  const uint32_t replicas = parse_engine_options(replicas_only).replicas;

  ModelLaunch launch;
  launch.info = gguf::read_model_info(path);
  launch.options = options;
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

}  // namespace inference::llama_server
