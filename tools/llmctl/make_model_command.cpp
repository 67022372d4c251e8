// llmctl make-model --tiny: write a tiny random llama GGUF model that llama-server can load, for
// demos and tests on machines without a real model.
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "byte_size.hpp"
#include "commands.hpp"
#include "exit_status.hpp"
#include "inference/gguf/tiny_model.hpp"

namespace llmctl {

namespace {

struct MakeModelOptions {
  bool tiny = false;  // the only kind so far; required so other kinds can be added later
  std::string output;
  uint64_t seed = 0;
};

int run_make_model(const MakeModelOptions& options) {
  inference::gguf::write_tiny_model(options.output, options.seed);
  fmt::print("wrote {} ({})\n", options.output, format_bytes(std::filesystem::file_size(options.output)));
  return kExitSuccess;
}

}  // namespace

void add_make_model_command(CLI::App& app, CommandAction& action) {
  auto options = std::make_shared<MakeModelOptions>();
  auto* command = app.add_subcommand("make-model", "Write a test model file");
  command->add_flag("--tiny", options->tiny, "A tiny random llama model (about 0.5 MB)")->required();
  command->add_option("output", options->output, "Where to write it")->required()->type_name("OUT.gguf");
  command->add_option("--seed", options->seed, "Seed of the random weights (same seed, same bytes)")
      ->capture_default_str();
  command->callback([options, &action] { action = [options] { return run_make_model(*options); }; });
}

}  // namespace llmctl
