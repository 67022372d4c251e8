// Starting a supervised child process (private to the llama_server library): explicit argv, a
// complete environment, stdout and stderr on one pipe, stdin from /dev/null, its own process
// group, and SIGKILL when the parent dies. Shared by the version probe and ServerProcess.
//
// Ownership: SpawnedChild owns the pidfd-backed handle and the pipe's read end; it does NOT own
// the process' lifetime: whoever holds it must see the child reaped (async_wait on the handle,
// or kill_group_and_reap()). Thread-safety: spawn_child() may be called from any thread.
// Cancellation: spawn_child() is synchronous (fork + exec, bounded by the kernel).
#pragma once

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/readable_pipe.hpp>
// Boost.Process v2 in 1.81 is not self-contained: its config uses boost::optional and its
// launcher boost::decay without including them, and process_handle.hpp/exit_code.hpp only
// compile when process.hpp comes first. Include in this order; never the v2.hpp umbrella
// (environment.hpp does not compile).
#include <boost/optional.hpp>
#include <boost/type_traits/decay.hpp>
// clang-format off
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/process_handle.hpp>
// clang-format on
#include <filesystem>
#include <string>
#include <vector>

namespace inference::llama_server::detail {

struct SpawnRequest {
  std::filesystem::path executable;
  std::vector<std::string> arguments;    // without argv[0]; the executable path goes there
  std::vector<std::string> environment;  // complete, "NAME=value"
};

struct SpawnedChild {
  pid_t pid = -1;  // also the child's process group id
  // pidfd-backed; async_wait() reaps the child and yields the raw wait status.
  boost::process::v2::basic_process_handle<boost::asio::any_io_executor> handle;
  boost::asio::readable_pipe output;  // the child's stdout and stderr, interleaved
};

// The child starts with: its own process group (signals to the group reach anything it forks),
// PR_SET_PDEATHSIG = SIGKILL (checked against the parent's pid to close the fork/prctl race),
// umask 077 (a UNIX socket it creates is private to our uid), an empty signal mask and default
// dispositions for the termination signals (a host that blocks or ignores them must not make
// the server deaf to SIGTERM), and no file descriptors but 0, 1 and 2.
//
// PR_SET_PDEATHSIG fires when the *thread* that forked the child exits, not only the process,
// so every child is forked on the SupervisionContext's thread, which lives until the process
// exits (or this library is unloaded, when no child of it can be left): a host may call this
// from a short-lived thread.
//
// Throws Error(child_start_failed) naming the executable and the reason (fork failure, exec
// failure such as ENOENT/EACCES/ENOEXEC, pidfd unavailable); nothing is left running then.
SpawnedChild spawn_child(const boost::asio::any_io_executor& executor, const SpawnRequest& request);

// SIGKILLs the child's process group and the child, then waits for it (blocking, EINTR-safe).
// Call it only while the child is not reaped yet: afterwards its pid may belong to another
// process.
void kill_group_and_reap(pid_t pid) noexcept;

// The calling process' environment as "NAME=value" strings. Reads environ: not safe against a
// concurrent setenv() in another thread (nothing is).
std::vector<std::string> current_environment();

}  // namespace inference::llama_server::detail
