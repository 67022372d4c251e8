// llmctl models: the GGUF models in a directory, with the reason for every file that is not one.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <memory>
#include <string>

#include "byte_size.hpp"
#include "commands.hpp"
#include "exit_status.hpp"
#include "inference/gguf/model_discovery.hpp"
#include "inference/gguf/model_info_json.hpp"
#include "json_output.hpp"
#include "text_table.hpp"

namespace llmctl {

namespace {

struct ModelsOptions {
  std::string directory;
  bool recursive = false;
  bool json = false;
};

void print_models_table(const std::vector<inference::gguf::DiscoveredModel>& models, const std::string& directory) {
  if (models.empty()) {
    fmt::print("no .gguf models in {}\n", directory);
    return;
  }
  TextTable table;
  table.add_row({"PATH", "ARCH", "NAME", "TYPE", "SIZE", "CONTEXT"});
  std::vector<std::string> failures;
  for (const auto& model : models) {
    if (!model.ok()) {
      failures.push_back(model.reason);
      continue;
    }
    const auto& info = *model.info;
    table.add_row({model.path.string(), info.architecture, info.name.empty() ? "-" : info.name, info.file_type,
                   format_bytes(info.file_size), fmt::format("{}", info.context_length)});
  }
  table.print(stdout);
  // Unreadable files after the table: their reasons are too long for a column.
  for (const auto& reason : failures) fmt::print("not a model: {}\n", reason);
}

int run_models(const ModelsOptions& options) {
  const auto models = inference::gguf::discover_models(options.directory, options.recursive);
  if (options.json) {
    boost::json::array items;
    for (const auto& model : models) items.push_back(inference::gguf::to_json(model));
    boost::json::object out;
    out["directory"] = options.directory;
    out["models"] = std::move(items);
    print_json_line(out);
  } else {
    print_models_table(models, options.directory);
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
  command->callback([options, &action] { action = [options] { return run_models(*options); }; });
}

}  // namespace llmctl
