#include "model_flags.hpp"

#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <string_view>

namespace llmctl {

namespace {

constexpr char kOptionSeparator = '=';

// CLI11 validator: the text is an error message, empty when the value is fine.
std::string check_key_value(const std::string& text) {
  const auto separator = text.find(kOptionSeparator);
  if (separator == std::string::npos) return "--opt expects KEY=VALUE, got '" + text + "'";
  if (separator == 0) return "--opt expects a non-empty KEY in KEY=VALUE, got '" + text + "'";
  return {};
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
  command.add_option("--slots", flags.parallel_slots, "Requests the model serves in parallel")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command.add_option("--ctx", flags.context_len, "Context length per slot (0: the model's default)")
      ->capture_default_str();
  command.add_option("--gpu-layers", flags.gpu_layers, "Layers offloaded to the GPU (-1: all, 0: CPU only)")
      ->capture_default_str();
  command.add_flag("--server-log", flags.server_log,
                   "Print the inference server's log lines on stderr (prefixed \"server: \")");
  command.add_option("--opt", flags.backend_options, "Backend-specific option KEY=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->type_name("KEY=VALUE")
      ->check(CLI::Validator(check_key_value, "", "key_value"));
}

}  // namespace llmctl
