// llmctl backends: every registered backend, whether it can run here (and why not), the server
// binary it would run with the devices that binary sees, and the plugins that failed to load.
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <memory>

#include "command_context.hpp"
#include "commands.hpp"
#include "exit_status.hpp"
#include "inference/error.hpp"
#include "json_output.hpp"
#include "text_table.hpp"

namespace llmctl {

namespace {

struct BackendsOptions {
  PluginFlags plugins;
  bool json = false;
};

boost::json::object backends_json(const CommandContext& context, const std::vector<inference::BackendEntry>& entries) {
  boost::json::array backends;
  for (const auto& entry : entries) {
    boost::json::object item;
    item["name"] = entry.name;
    item["available"] = entry.availability.available;
    item["reason"] = entry.availability.reason;
    // Availability::executable under the key scripts already read (scripts/bench).
    item["server_path"] = entry.availability.executable;
    item["plugin_file"] = entry.plugin_file;
    boost::json::array devices;
    for (const auto& device : entry.availability.devices) devices.push_back(boost::json::string(device));
    item["devices"] = std::move(devices);
    backends.push_back(std::move(item));
  }
  boost::json::array failures;
  for (const auto& failure : context.plugin_failures()) {
    boost::json::object item;
    item["file"] = failure.file.string();
    const bool ours = failure.code.category() == inference::error_category();
    item["error"] = ours ? inference::error_name(static_cast<inference::errc>(failure.code.value()))
                         : std::string_view(failure.code.category().name());
    item["message"] = failure.message;
    failures.push_back(std::move(item));
  }
  boost::json::array directories;
  for (const auto& directory : context.plugin_directories())
    directories.push_back(boost::json::string(directory.string()));

  boost::json::object out;
  out["backends"] = std::move(backends);
  out["failures"] = std::move(failures);
  out["plugin_dirs"] = std::move(directories);
  return out;
}

void print_backends_table(const std::vector<inference::BackendEntry>& entries) {
  if (entries.empty()) {
    fmt::print("no backends registered (see --plugin-dir and INFERENCE_PLUGIN_PATH)\n");
    return;
  }
  TextTable table;
  table.add_row({"NAME", "AVAILABLE", "PLUGIN", "SERVER", "REASON"});
  for (const auto& entry : entries) {
    table.add_row({entry.name, entry.availability.available ? "yes" : "no",
                   entry.plugin_file.empty() ? "(built in)" : entry.plugin_file,
                   entry.availability.executable.empty() ? "-" : entry.availability.executable,
                   entry.availability.reason});
  }
  table.print(stdout);
  // Devices under the table, one line each: a row could not hold several, each with its memory.
  for (const auto& entry : entries) {
    for (const auto& device : entry.availability.devices) fmt::print("{} device: {}\n", entry.name, device);
  }
}

int run_backends(const BackendsOptions& options) {
  CommandContext context(options.plugins);
  const auto entries = context.registry().list();
  if (options.json) {
    print_json_line(backends_json(context, entries));
  } else {
    context.warn_plugin_failures();
    print_backends_table(entries);
  }
  return kExitSuccess;
}

}  // namespace

void add_backends_command(CLI::App& app, CommandAction& action) {
  auto options = std::make_shared<BackendsOptions>();
  auto* command = app.add_subcommand("backends", "List the registered backends and plugin load failures");
  add_plugin_flags(*command, options->plugins);
  command->add_flag("--json", options->json,
                    "Print one JSON object (backends with server_path and devices, failures, plugin_dirs)");
  command->callback([options, &action] { action = [options] { return run_backends(*options); }; });
}

}  // namespace llmctl
