// The child processes of this test process, as /proc shows them: used to prove that a fault
// left no llama-server (running, stopped or zombie) behind, and to find the server's pid from
// the outside while the engine is still starting it.
//
// Ownership: plain values. Thread-safety: free functions reading /proc; safe from any thread.
// Cancellation: nothing here blocks (the one wait is bounded by its deadline).
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace inference::test {

struct ChildProcess {
  pid_t pid = 0;
  char state = '?';          // /proc/<pid>/stat state: R, S, T (stopped), Z (zombie), ...
  std::string command_line;  // argv joined with spaces (empty for a zombie)
};

// Every process whose parent is this process (children of any of its threads), zombies
// included. Processes that vanish while /proc is read are skipped.
std::vector<ChildProcess> child_processes();

// True when the command line belongs to a started llama-server (the installed wrapper script,
// its loader or the binary itself): it names llama-server and carries the engine's --metrics
// flag, which `llama-server --version` probes do not.
bool is_started_llama_server(const ChildProcess& child);

// The started llama-servers among child_processes().
std::vector<ChildProcess> llama_server_children();

// Polls /proc until a started llama-server child exists; std::nullopt after `timeout`.
std::optional<pid_t> wait_for_llama_server_child(std::chrono::milliseconds timeout);

// The gtest check every fault test ends with: no child process at all is left (no server, no
// zombie, no version probe). The failure message lists what was found.
::testing::AssertionResult no_child_process_left();

}  // namespace inference::test
