// CommandContext: what every backend-using command starts from. It loads the plugins named by
// the --plugin-dir flags (then INFERENCE_PLUGIN_PATH, then next to the executable) into one
// Registry, and runs the command's coroutine on a single-threaded io_context with Ctrl-C wired
// to cancellation.
//
// Threading: everything runs on the thread that calls run(); nothing in llmctl needs locks.
// Cancellation: SIGINT/SIGTERM emit terminal cancellation into the command's coroutine (pending
// stream reads end, streams are destroyed, their requests freed) and run() returns 128 + signal.
// A command that does not unwind within kInterruptGrace, or a second signal, stops the loop.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "inference/registry.hpp"

namespace CLI {
class App;
}

namespace llmctl {

// How long a cancelled command may take to unwind (a server backend stopping its process)
// before llmctl gives up waiting and exits anyway.
inline constexpr std::chrono::seconds kInterruptGrace{5};

struct PluginFlags {
  std::vector<std::string> directories;  // --plugin-dir, searched first, in order
};

// Adds the repeatable --plugin-dir DIR flag.
void add_plugin_flags(CLI::App& command, PluginFlags& flags);

class CommandContext {
 public:
  // Loads the plugins. Failed plugin files are kept in plugin_failures(), not thrown.
  explicit CommandContext(const PluginFlags& flags);
  CommandContext(const CommandContext&) = delete;
  CommandContext& operator=(const CommandContext&) = delete;

  inference::Registry& registry() noexcept { return registry_; }
  const std::vector<std::filesystem::path>& plugin_directories() const noexcept { return directories_; }
  const std::vector<inference::PluginFailure>& plugin_failures() const noexcept { return failures_; }

  // One warning line on stderr per plugin that failed to load.
  void warn_plugin_failures() const;

  // Runs `command` to completion on a fresh single-threaded io_context. Returns kExitSuccess,
  // or 128 + the signal number when interrupted; rethrows the command's exception.
  int run(const std::function<boost::asio::awaitable<void>()>& command);

 private:
  inference::Registry registry_;
  std::vector<std::filesystem::path> directories_;
  std::vector<inference::PluginFailure> failures_;
};

}  // namespace llmctl
