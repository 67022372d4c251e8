// llmctl serve: the OpenAI-compatible gateway (gateway/) on this machine's backends. Parses the
// flags into GatewayOptions, runs the gateway on one io_context and turns SIGTERM/SIGINT into a
// graceful shutdown (stop accepting, drain, close the models); a second signal stops at once.
// docs/serve.md documents every flag.
#include <fmt/core.h>

#include <CLI/CLI.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "command_context.hpp"
#include "commands.hpp"
#include "exit_status.hpp"
#include "inference/error.hpp"
#include "inference/gateway/gateway.hpp"
#include "inference/gateway/model_catalog.hpp"
#include "model_flags.hpp"

namespace llmctl {

namespace {

namespace asio = boost::asio;
namespace gateway = inference::gateway;

// Where the API key may come from when neither --api-key nor --api-key-file is given.
constexpr const char* kApiKeyVariable = "LLMCTL_API_KEY";

struct ServeOptions {
  PluginFlags plugins;
  ModelFlags model;
  std::vector<std::string> model_paths;  // --model, repeatable
  std::string models_dir;
  std::vector<std::string> aliases;
  std::vector<std::string> model_options;  // --model-opt NAME:KEY=VALUE, repeatable
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string api_key;
  std::string api_key_file;
  uint32_t queue_limit = inference::kDefaultQueueLimit;
  uint32_t idle_unload_seconds = 0;  // 0: keep every model loaded
  uint32_t max_loaded = 0;
  std::string cors_origin;
  uint32_t drain_seconds = 10;
  uint32_t idle_timeout_seconds = 60;
  uint32_t max_connections = 4096;
  bool log_requests = false;
  gateway::RequestLimits limits;
};

// The key from --api-key, else the first line of --api-key-file, else $LLMCTL_API_KEY.
std::string api_key_of(const ServeOptions& options) {
  if (!options.api_key.empty()) return options.api_key;
  if (!options.api_key_file.empty()) {
    std::ifstream file(options.api_key_file);
    std::string key;
    if (!file || !std::getline(file, key) || key.empty()) {
      throw inference::Error(inference::errc::invalid_argument,
                             "--api-key-file '" + options.api_key_file + "': cannot read a key from its first line");
    }
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
    return key;
  }
  const char* from_environment = std::getenv(kApiKeyVariable);
  return from_environment ? from_environment : "";
}

gateway::GatewayOptions gateway_options(const ServeOptions& options) {
  gateway::GatewayOptions out;
  out.host = options.host;
  out.port = options.port;
  out.models = gateway::build_catalog(options.model_paths, options.models_dir, options.aliases);
  gateway::apply_model_options(out.models, options.model_options);
  out.backend = options.model.backend;
  out.load = options.model.load_options();
  out.load.queue_limit = options.queue_limit;
  if (options.idle_unload_seconds > 0) out.pool.idle_unload = std::chrono::seconds(options.idle_unload_seconds);
  out.pool.max_loaded = options.max_loaded;
  out.api_key = api_key_of(options);
  out.cors_origin = options.cors_origin;
  out.drain = std::chrono::seconds(options.drain_seconds);
  out.idle_timeout = std::chrono::seconds(options.idle_timeout_seconds);
  out.max_connections = options.max_connections;
  out.log_requests = options.log_requests;
  out.limits = options.limits;
  out.log = [](std::string_view line) { fmt::print(stderr, "llmctl serve: {}\n", line); };
  return out;
}

// Runs the gateway until a signal has drained it. Returns the exit status.
int run_serve(const ServeOptions& options) {
  CommandContext context(options.plugins);
  context.warn_plugin_failures();
  auto settings = gateway_options(options);
  const auto host = settings.host;

  asio::io_context io(1);
  gateway::Gateway server(io.get_executor(), context.registry(), std::move(settings));
  asio::signal_set signals(io, SIGINT, SIGTERM);
  std::exception_ptr failure;
  bool stopping = false;

  auto stop = [&] {
    if (stopping) return;
    stopping = true;
    asio::co_spawn(io, server.shutdown(), [&](std::exception_ptr) { signals.cancel(); });
  };
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int signal) {
    if (ec) return;
    if (stopping) {  // a second signal: do not wait for the drain
      fmt::print(stderr, "llmctl serve: signal {} again: stopping now\n", signal);
      io.stop();
      return;
    }
    fmt::print(stderr, "llmctl serve: signal {}: draining for up to {} s, then stopping\n", signal,
               options.drain_seconds);
    signals.async_wait(on_signal);
    stop();
  };
  signals.async_wait(on_signal);

  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await server.start();
        fmt::print("listening on http://{}:{}\n", host, server.port());
        std::fflush(stdout);
      },
      [&](std::exception_ptr e) {
        if (!e) return;
        failure = std::move(e);
        stop();
      });
  io.run();
  if (failure) std::rethrow_exception(failure);
  return kExitSuccess;
}

void add_limit_flags(CLI::App& command, gateway::RequestLimits& limits) {
  command.add_option("--max-body-bytes", limits.max_body_bytes, "Largest request body (413 beyond)")
      ->capture_default_str();
  command.add_option("--max-header-bytes", limits.max_header_bytes, "Largest request header (431 beyond)")
      ->capture_default_str();
  command.add_option("--max-json-depth", limits.max_json_depth, "Deepest JSON nesting in a body")
      ->capture_default_str();
  command.add_option("--max-messages", limits.max_messages, "Most chat messages per request")->capture_default_str();
  command.add_option("--max-tokens-limit", limits.max_tokens, "Largest max_tokens a request may ask for")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
}

void add_serving_flags(CLI::App& command, ServeOptions& options) {
  command.add_option("--model", options.model_paths, "Model file to serve, under its file stem (repeatable)")
      ->allow_extra_args(false)
      ->type_name("PATH");
  command.add_option("--models", options.models_dir, "Serve every *.gguf in DIR, under their file stems")
      ->type_name("DIR");
  command.add_option("--alias", options.aliases, "Serve PATH under NAME (repeatable)")
      ->allow_extra_args(false)
      ->type_name("NAME=PATH");
  command
      .add_option("--model-opt", options.model_options,
                  "Backend option for one served model, over --opt (repeatable; e.g. NAME:embeddings=true)")
      ->allow_extra_args(false)
      ->type_name("NAME:KEY=VALUE");
  command.add_option("--host", options.host, "Address to listen on")->capture_default_str();
  command.add_option("--port", options.port, "Port to listen on (0: any free port)")->capture_default_str();
  auto* key =
      command.add_option("--api-key", options.api_key,
                         "Required bearer key for /v1 (visible in ps: prefer --api-key-file or $LLMCTL_API_KEY)");
  command.add_option("--api-key-file", options.api_key_file, "File whose first line is the API key")
      ->excludes(key)
      ->type_name("FILE");
  command.add_option("--queue-limit", options.queue_limit, "Requests waiting per model beyond the slots (429 beyond)")
      ->capture_default_str();
  command
      .add_option("--idle-unload", options.idle_unload_seconds,
                  "Load models on first use and unload after this many idle seconds (0: keep all loaded)")
      ->capture_default_str();
  command.add_option("--max-loaded", options.max_loaded, "With --idle-unload: most models loaded at once (0: any)")
      ->capture_default_str();
  command.add_option("--cors", options.cors_origin, "Allow browsers from ORIGIN (or *) to call the API")
      ->type_name("ORIGIN");
  command
      .add_option("--drain-seconds", options.drain_seconds, "On SIGTERM/SIGINT, how long running requests may finish")
      ->capture_default_str();
  command.add_option("--idle-timeout", options.idle_timeout_seconds, "Close connections idle this many seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command.add_option("--max-connections", options.max_connections, "Most open connections (503 beyond)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command.add_flag("--log-requests", options.log_requests, "Log every request body (prompts!) on stderr");
}

}  // namespace

void add_serve_command(CLI::App& app, CommandAction& action) {
  auto options = std::make_shared<ServeOptions>();
  auto* command = app.add_subcommand("serve", "Serve models over an OpenAI-compatible HTTP API (docs/serve.md)");
  add_plugin_flags(*command, options->plugins);
  add_model_flags(*command, options->model, false);
  add_serving_flags(*command, *options);
  add_limit_flags(*command, options->limits);
  command->callback([options, &action] { action = [options] { return run_serve(*options); }; });
}

}  // namespace llmctl
