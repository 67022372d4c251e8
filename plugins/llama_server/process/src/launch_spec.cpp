#include "inference/llama_server/launch_spec.hpp"

#include <algorithm>
#include <limits>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

// Each flag with every spelling llama-server accepts for it.
const std::vector<std::string>& managed_flag_spellings() {
  static const std::vector<std::string> flags{
      "-m",         "--model",      "-np",           "--parallel", "-c",
      "--ctx-size", "--host",       "--port",        "--api-key",  "--api-key-file",
      "-ngl",       "--gpu-layers", "--n-gpu-layers"};
  return flags;
}

bool is_managed(std::string_view arg) {
  const auto& flags = managed_flag_spellings();
  return std::any_of(flags.begin(), flags.end(), [&](const std::string& flag) {
    // "--port=8080" is the same flag as "--port 8080" to some argument parsers.
    return arg == flag || (arg.size() > flag.size() && arg.substr(0, flag.size()) == flag && arg[flag.size()] == '=');
  });
}

std::string_view variable_name(std::string_view entry) { return entry.substr(0, entry.find('=')); }

void check_variable_name(std::string_view name) {
  if (name.empty() || name.find('=') != std::string_view::npos) {
    throw Error(errc::invalid_argument,
                "environment variable name '" + std::string(name) + "' is empty or contains '='");
  }
}

void add_listen_arguments(const LaunchSpec& spec, const ServerEndpoint& listen, std::vector<std::string>& args) {
  if (listen.is_unix_socket()) {
    const std::string& socket = listen.socket_path().native();
    if (!spec.features.unix_socket) {
      throw Error(errc::invalid_argument, "this llama-server build cannot listen on a UNIX socket (" + socket + ")");
    }
    if (socket.find(',') != std::string::npos) {
      throw Error(errc::invalid_argument,
                  "socket path '" + socket + "' contains ',' (llama-server splits --host there)");
    }
  }
  const auto listen_args = listen.listen_arguments();
  args.insert(args.end(), listen_args.begin(), listen_args.end());
}

}  // namespace

std::vector<std::string> managed_flags() { return managed_flag_spellings(); }

std::vector<std::string> build_server_arguments(const LaunchSpec& spec, const ServerEndpoint& listen) {
  if (spec.model_path.empty()) throw Error(errc::invalid_argument, "empty model path");
  if (spec.slots == 0) throw Error(errc::invalid_argument, "0 server slots");
  const std::uint64_t total_context = std::uint64_t{spec.context_per_slot} * std::uint64_t{spec.slots};
  if (total_context > static_cast<std::uint64_t>(std::numeric_limits<std::int32_t>::max())) {
    throw Error(errc::invalid_argument, "context " + std::to_string(spec.context_per_slot) + " per slot × " +
                                            std::to_string(spec.slots) + " slots does not fit llama-server's -c");
  }
  for (const auto& arg : spec.extra_args) {
    if (is_managed(arg)) {
      throw Error(errc::invalid_argument, "extra argument '" + arg + "' would override a flag the supervisor manages");
    }
  }

  std::vector<std::string> args{
      "-m",   spec.model_path.string(),
      "-np",  std::to_string(spec.slots),
      "-c",   std::to_string(total_context),
      "-ngl", std::to_string(spec.gpu_layers < 0 ? kAllGpuLayers : spec.gpu_layers),
  };
  if (spec.features.no_webui) args.emplace_back("--no-webui");
  if (spec.features.offline) args.emplace_back("--offline");
  args.emplace_back("--metrics");
  add_listen_arguments(spec, listen, args);
  if (spec.chat_template) args.insert(args.end(), {"--chat-template", *spec.chat_template});
  args.insert(args.end(), spec.extra_args.begin(), spec.extra_args.end());
  return args;
}

std::vector<std::string> build_server_environment(const LaunchSpec& spec, const std::vector<std::string>& parent,
                                                  std::string_view api_key) {
  for (const auto& name : spec.environment_remove) check_variable_name(name);
  for (const auto& [name, value] : spec.environment_set) check_variable_name(name);

  const auto removed = [&](std::string_view name) {
    if (name == kApiKeyVariable || name.starts_with("LLAMA_ARG_")) return true;
    if (std::find(spec.environment_remove.begin(), spec.environment_remove.end(), name) !=
        spec.environment_remove.end()) {
      return true;
    }
    return std::any_of(spec.environment_set.begin(), spec.environment_set.end(),
                       [&](const auto& entry) { return entry.first == name; });
  };

  std::vector<std::string> env;
  env.reserve(parent.size() + spec.environment_set.size() + 1);
  for (const auto& entry : parent) {
    if (!removed(variable_name(entry))) env.push_back(entry);
  }
  for (const auto& [name, value] : spec.environment_set) {
    if (name != kApiKeyVariable) env.push_back(name + "=" + value);
  }
  env.push_back(std::string(kApiKeyVariable) + "=" + std::string(api_key));
  return env;
}

}  // namespace inference::llama_server
