#include "model_flags.hpp"

#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <string_view>

namespace llmctl {

namespace {

constexpr char kOptionSeparator = '=';
constexpr char kDeviceSeparator = ',';
// The backend option names behind --replicas and --devices: the llama-server engine's keys
// (engine_option_keys.hpp; llmctl uses only core's headers, so the names are repeated here).
constexpr std::string_view kReplicasKey = "replicas";
constexpr std::string_view kDevicesKey = "devices";
constexpr std::string_view kRpcKey = "rpc";

std::string_view key_of(std::string_view key_value) { return key_value.substr(0, key_value.find(kOptionSeparator)); }

std::string conflict(std::string_view flag, std::string_view flag_value, std::string_view option) {
  return fmt::format("{} {} conflicts with --opt {}: give only one of them", flag, flag_value, option);
}

// Whether --opt KEY=VALUE sets what --replicas or --devices sets; the message names both.
std::string check_no_conflict(const ModelFlags& flags, std::string_view key_value) {
  const auto key = key_of(key_value);
  if (key == kReplicasKey && flags.replicas != 0) {
    return conflict("--replicas", std::to_string(flags.replicas), key_value);
  }
  if (key == kDevicesKey && !flags.devices.empty()) return conflict("--devices", flags.devices, key_value);
  if (key == kRpcKey && !flags.rpc.empty()) return conflict("--rpc", flags.rpc, key_value);
  return {};
}

// The --opt that sets `key`, if any.
const std::string* opt_setting(const ModelFlags& flags, std::string_view key) {
  const auto found = std::find_if(flags.backend_options.begin(), flags.backend_options.end(),
                                  [key](const std::string& item) { return key_of(item) == key; });
  return found == flags.backend_options.end() ? nullptr : &*found;
}

// CLI11 validator: the text is an error message, empty when the value is fine.
std::string check_key_value(const std::string& text) {
  const auto separator = text.find(kOptionSeparator);
  if (separator == std::string::npos) return "--opt expects KEY=VALUE, got '" + text + "'";
  if (separator == 0) return "--opt expects a non-empty KEY in KEY=VALUE, got '" + text + "'";
  return {};
}

// Non-empty and only decimal digits.
bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

// "0", "0,1", "2,3,5": GPU indices as the backend numbers them. Only the form is checked here;
// whether the devices exist is the backend's to say.
std::string check_device_list(const std::string& text) {
  const auto bad = [&text] { return "expects comma-separated GPU indices such as 0,1; got '" + text + "'"; };
  std::size_t start = 0;
  for (;;) {
    const auto end = std::min(text.find(kDeviceSeparator, start), text.size());
    if (!all_digits(std::string_view(text).substr(start, end - start))) return bad();
    if (end == text.size()) return {};
    start = end + 1;
  }
}

std::string check_replica_count(const std::string& text) {
  const bool positive = all_digits(text) && text.find_first_not_of('0') != std::string::npos;
  return positive ? std::string() : "expects a whole number of at least 1; got '" + text + "'";
}

// --replicas, --devices and --rpc. Each refuses an --opt already processed that sets the same option.
void add_placement_flags(CLI::App& command, ModelFlags& flags) {
  command
      .add_option_function<uint32_t>(
          "--replicas",
          [&flags](const uint32_t& count) {
            flags.replicas = count;
            if (const auto* opt = opt_setting(flags, kReplicasKey)) {
              throw CLI::ValidationError("--replicas", conflict("--replicas", std::to_string(count), *opt));
            }
          },
          "Server processes serving the model, each with --slots slots (default: the backend's, 1)")
      ->check(CLI::Validator(check_replica_count, "", "replica_count"))
      ->type_name("N");
  command
      .add_option_function<std::string>(
          "--devices",
          [&flags](const std::string& list) {
            flags.devices = list;
            if (const auto* opt = opt_setting(flags, kDevicesKey)) {
              throw CLI::ValidationError("--devices", conflict("--devices", list, *opt));
            }
          },
          "GPUs to run on, one replica each, e.g. 0,1 (the rocm and vulkan backends)")
      ->check(CLI::Validator(check_device_list, "", "device_list"))
      ->type_name("LIST");
  // Only non-empty here: the engine parses the list and names a bad entry (one parser, one message).
  command
      .add_option_function<std::string>(
          "--rpc",
          [&flags](const std::string& list) {
            flags.rpc = list;
            if (const auto* opt = opt_setting(flags, kRpcKey)) {
              throw CLI::ValidationError("--rpc", conflict("--rpc", list, *opt));
            }
          },
          "Split the model over llama.cpp RPC workers (ggml-rpc-server), e.g. 10.0.0.2:50052,10.0.0.3:50052 "
          "(the llama_cpp backend)")
      ->check(CLI::Validator(
          [](const std::string& text) { return text.empty() ? std::string("expects HOST:PORT,...; got ''") : ""; }, "",
          "rpc_list"))
      ->type_name("LIST");
}

}  // namespace

inference::LoadOptions ModelFlags::load_options() const {
  inference::LoadOptions options;
  options.parallel_slots = parallel_slots;
  options.context_len = context_len;
  options.gpu_layers = gpu_layers;
  for (const auto& item : backend_options) {
    const auto separator = item.find(kOptionSeparator);  // validated while parsing
    options.backend_options[item.substr(0, separator)] = item.substr(separator + 1);
  }
  if (replicas != 0) options.backend_options[std::string(kReplicasKey)] = std::to_string(replicas);
  if (!devices.empty()) options.backend_options[std::string(kDevicesKey)] = devices;
  if (!rpc.empty()) options.backend_options[std::string(kRpcKey)] = rpc;
  if (server_log) {
    // One fmt::print per line: stdio locks the stream for the call, so lines never interleave
    // with each other or with llmctl's own stderr output.
    options.child_log = [](std::string_view line) { fmt::print(stderr, "server: {}\n", line); };
  }
  return options;
}

void add_model_flags(CLI::App& command, ModelFlags& flags, bool with_model) {
  command.add_option("--backend", flags.backend, "Backend to use (default: the preferred available one)")
      ->type_name("NAME");
  if (with_model) {
    command.add_option("--model", flags.model, "Model file (GGUF); the stub backend needs none")->type_name("PATH");
  }
  command.add_option("--slots", flags.parallel_slots, "Requests the model serves in parallel (per replica)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command.add_option("--ctx", flags.context_len, "Context length per slot (0: the model's default)")
      ->capture_default_str();
  command.add_option("--gpu-layers", flags.gpu_layers, "Layers offloaded to the GPU (-1: all, 0: CPU only)")
      ->capture_default_str();
  add_placement_flags(command, flags);
  command.add_flag("--server-log", flags.server_log,
                   "Print the inference server's log lines on stderr (prefixed \"server: \")");
  // Declared after --replicas and --devices: CLI11 processes options in declaration order, so
  // this check sees them set. The flags' own checks cover the other order.
  command.add_option("--opt", flags.backend_options, "Backend-specific option KEY=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->type_name("KEY=VALUE")
      ->check(CLI::Validator(check_key_value, "", "key_value"))
      ->check(CLI::Validator([&flags](const std::string& text) { return check_no_conflict(flags, text); }, "",
                             "no_conflict"));
}

}  // namespace llmctl
