// llmctl models: the GGUF models in a directory, with the reason for every file that is not one.
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <memory>
#include <optional>
#include <string>

#include "byte_size.hpp"
#include "command_context.hpp"
#include "commands.hpp"
#include "exit_status.hpp"
#include "inference/gguf/model_discovery.hpp"
#include "inference/gguf/model_info_json.hpp"
#include "json_output.hpp"
#include "model_flags.hpp"
#include "text_table.hpp"

namespace llmctl {

namespace {

struct ModelsOptions {
  std::string directory;
  bool recursive = false;
  bool json = false;
  PluginFlags plugins;
  ModelFlags model;  // with --backend: ask that backend whether each model would load
};

// One backend's verdict per model (empty without --backend).
using Verdicts = std::vector<std::optional<inference::Availability>>;

void print_models_table(const std::vector<inference::gguf::DiscoveredModel>& models, const std::string& directory,
                        const Verdicts& verdicts, const std::string& backend) {
  if (models.empty()) {
    fmt::print("no .gguf models in {}\n", directory);
    return;
  }
  TextTable table;
  std::vector<std::string> header{"PATH", "ARCH", "NAME", "TYPE", "SIZE", "CONTEXT"};
  if (!backend.empty()) header.push_back("LOADS ON " + backend);
  table.add_row(header);
  std::vector<std::string> failures;
  std::vector<std::string> refusals;  // the backend's reason per model, after the table
  for (std::size_t i = 0; i < models.size(); ++i) {
    const auto& model = models[i];
    if (!model.ok()) {
      failures.push_back(model.reason);
      continue;
    }
    const auto& info = *model.info;
    std::vector<std::string> row{model.path.string(),
                                 info.architecture,
                                 info.name.empty() ? "-" : info.name,
                                 info.file_type,
                                 format_bytes(info.file_size),
                                 fmt::format("{}", info.context_length)};
    if (!backend.empty() && verdicts[i]) {
      row.push_back(verdicts[i]->available ? "yes" : "no");
      refusals.push_back(model.path.string() + ": " + (verdicts[i]->available ? "yes" : "no") +
                         (verdicts[i]->reason.empty() ? "" : ": " + verdicts[i]->reason));
    }
    table.add_row(row);
  }
  table.print(stdout);
  // Unreadable files after the table: their reasons are too long for a column.
  for (const auto& reason : failures) fmt::print("not a model: {}\n", reason);
  for (const auto& line : refusals) fmt::print("{} {}\n", backend, line);
}

int run_models(const ModelsOptions& options) {
  const auto models = inference::gguf::discover_models(options.directory, options.recursive);
  Verdicts verdicts(models.size());
  if (!options.model.backend.empty()) {
    CommandContext context(options.plugins);
    context.warn_plugin_failures();
    const auto backend = context.registry().get(options.model.backend);
    const auto load_options = options.model.load_options();
    for (std::size_t i = 0; i < models.size(); ++i) {
      if (models[i].ok()) verdicts[i] = backend->preflight(models[i].path.string(), load_options);
    }
  }
  if (options.json) {
    boost::json::array items;
    for (std::size_t i = 0; i < models.size(); ++i) {
      auto item = inference::gguf::to_json(models[i]);
      if (verdicts[i]) {
        boost::json::object verdict;
        verdict["backend"] = options.model.backend;
        verdict["loads"] = verdicts[i]->available;
        verdict["reason"] = verdicts[i]->reason;
        item["preflight"] = std::move(verdict);
      }
      items.push_back(std::move(item));
    }
    boost::json::object out;
    out["directory"] = options.directory;
    out["models"] = std::move(items);
    print_json_line(out);
  } else {
    print_models_table(models, options.directory, verdicts, options.model.backend);
  }
  return kExitSuccess;
}

}  // namespace

void add_models_command(CLI::App& app, CommandAction& action) {
  auto options = std::make_shared<ModelsOptions>();
  auto* command = app.add_subcommand("models", "List the GGUF models in a directory");
  command->add_option("directory", options->directory, "Directory to scan")->required()->type_name("DIR");
  command->add_flag("--recursive,-r", options->recursive, "Descend into subdirectories");
  command->add_flag("--json", options->json, "Print {\"directory\":...,\"models\":[...]} as one JSON object");
  // --backend NAME: ask that backend whether each model would load (e.g. fits the GPU's VRAM),
  // with the load flags that would be used.
  add_plugin_flags(*command, options->plugins);
  add_model_flags(*command, options->model, false);
  command->callback([options, &action] { action = [options] { return run_models(*options); }; });
}

}  // namespace llmctl
