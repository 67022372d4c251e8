// Running a llama-server binary briefly to ask it something (`--version`, `--list-devices`), private
// to the llama_server library: one spawn, output bounded by kVersionProbeOutputLimit, a deadline,
// and the child killed and reaped on timeout or cancellation. Shared by the version probe and
// the device probe so both bound time and output the same way.
//
// Ownership: the probe owns its child until it has been reaped.
// Thread-safety: probes may run concurrently from any thread.
// Cancellation: run_probe_child() never blocks its executor while the child runs; cancelling it
// kills and reaps the child and throws Error(cancelled).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace inference::llama_server::detail {

struct ProbeCommand {
  std::filesystem::path binary;
  std::vector<std::string> arguments;    // without argv[0]
  std::vector<std::string> environment;  // complete, "NAME=value"
};

// "'<binary> --version'": how failures name the command.
std::string describe_command(const ProbeCommand& command);

// Runs the command to its end on a strand of the caller's executor and returns what it printed
// (stdout and stderr interleaved, at most kVersionProbeOutputLimit bytes; the rest is drained and
// dropped). Throws Error(child_start_failed) naming the command when it cannot be started, does
// not finish within `timeout` (killed and reaped) or exits unsuccessfully; the detail holds the
// last lines of its output.
boost::asio::awaitable<std::string> run_probe_child(ProbeCommand command, std::chrono::milliseconds timeout);

// Error(child_start_failed) for a command that ran but whose output was not understood:
// "'<binary> --version' <what>", with the last lines of `output` as the detail.
[[noreturn]] void throw_probe_failure(const ProbeCommand& command, const std::string& what, const std::string& output);

}  // namespace inference::llama_server::detail
