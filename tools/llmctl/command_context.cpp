#include "command_context.hpp"

#include <CLI/CLI.hpp>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <csignal>
#include <exception>
#include <optional>

#include "diagnostics.hpp"
#include "exit_status.hpp"

namespace llmctl {

namespace asio = boost::asio;

namespace {

inference::PluginSearch search_for(const PluginFlags& flags) {
  inference::PluginSearch search;
  search.directories.assign(flags.directories.begin(), flags.directories.end());
  return search;
}

}  // namespace

void add_plugin_flags(CLI::App& command, PluginFlags& flags) {
  command
      .add_option("--plugin-dir", flags.directories,
                  "Directory with libbackend_<name>.so plugins, searched before INFERENCE_PLUGIN_PATH "
                  "and the default location (repeatable)")
      ->allow_extra_args(false)
      ->type_name("DIR");
}

CommandContext::CommandContext(const PluginFlags& flags) {
  const auto search = search_for(flags);
  directories_ = inference::plugin_directories(search);
  failures_ = registry_.load_plugins(search);
}

void CommandContext::warn_plugin_failures() const {
  for (const auto& failure : failures_) report_warning(failure.message);
}

int CommandContext::run(const std::function<asio::awaitable<void>()>& command) {
  // One thread on purpose: the command's coroutines, the models' work and the signal handling
  // all interleave on it, so shared counters need no synchronisation.
  asio::io_context io(1);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer grace(io);
  asio::cancellation_signal cancel;
  std::optional<int> interrupted_by;
  std::exception_ptr failure;

  asio::co_spawn(io, command(), asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e) {
                   failure = std::move(e);
                   signals.cancel();
                   grace.cancel();
                 }));

  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int signal) {
    if (ec) return;
    if (interrupted_by) {  // a second Ctrl-C: the user does not want to wait for the unwinding
      io.stop();
      return;
    }
    interrupted_by = signal;
    // Armed before the cancellation is emitted: the command may finish inside emit(), and
    // its completion handler must find these waits to cancel them.
    grace.expires_after(kInterruptGrace);
    grace.async_wait([&](boost::system::error_code timer_ec) {
      if (!timer_ec) io.stop();
    });
    signals.async_wait(on_signal);
    cancel.emit(asio::cancellation_type::terminal);
  };
  signals.async_wait(on_signal);

  io.run();
  if (interrupted_by) return kExitSignalBase + *interrupted_by;
  if (failure) std::rethrow_exception(failure);
  return kExitSuccess;
}

}  // namespace llmctl
