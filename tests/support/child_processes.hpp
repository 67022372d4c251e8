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
// The same for the children of another process (a gateway's llama-server).
std::vector<ChildProcess> child_processes_of(pid_t parent);

// True when the command line belongs to a started llama-server (the installed wrapper script,
// its loader or the binary itself): it names llama-server and carries the engine's --metrics
// flag, which `llama-server --version` probes do not.
bool is_started_llama_server(const ChildProcess& child);

// The started llama-servers among child_processes().
std::vector<ChildProcess> llama_server_children();
std::vector<ChildProcess> llama_server_children_of(pid_t parent);

// Polls /proc until a started llama-server child exists; std::nullopt after `timeout`.
std::optional<pid_t> wait_for_llama_server_child(std::chrono::milliseconds timeout);

// /proc/<pid>/environ as "NAME=value" entries (empty when the process is gone): how tests see
// the environment a server was really started with (device pinning).
std::vector<std::string> process_environment(int pid);

// Waits until `child` (a child of this process) has stopped, after the caller sent it SIGSTOP.
// kill() only queues a stop: one of the child's threads must run to start the group stop, and
// until it does (tens of ms on a loaded machine) its other threads keep serving requests. The
// wait is the kernel's stop report (waitid WSTOPPED), taken with WNOWAIT so it stays for anyone
// else; the engine waits only for exits, so it does not compete.
::testing::AssertionResult wait_until_stopped(pid_t child);

// Waits until `child` has exited (a zombie counts; so does a child already reaped), at most
// `timeout`: kill() only queues SIGKILL, and a process still runs (its command line still shows)
// until the kill has taken effect. The wait is the kernel's exit event (a pidfd becomes readable).
::testing::AssertionResult wait_until_exited(pid_t child, std::chrono::milliseconds timeout);

// The gtest check every fault test ends with: no child process at all is left (no server, no
// zombie, no version probe). The failure message lists what was found.
::testing::AssertionResult no_child_process_left();

}  // namespace inference::test
