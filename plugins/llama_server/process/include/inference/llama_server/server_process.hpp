// ServerProcess: one running llama-server child, from spawn to reaped. It picks the child's
// private transport (a UNIX socket in a fresh 0700 directory, or TCP on 127.0.0.1), gives it a
// random per-launch API key through the environment, captures its output into an OutputRing,
// observes its exit asynchronously, and guarantees that no child and no zombie outlive it.
//
// Ownership: move-only; owns the child process, its socket directory and its output. The child
// is in its own process group and gets SIGKILL if the host dies (PR_SET_PDEATHSIG; see
// child_spawn for the thread caveat). Destroying the object SIGKILLs the group, reaps the child
// synchronously (blocking for as long as the kernel needs to tear it down) and removes the
// socket directory. Awaitables that are still waiting when it is destroyed complete safely (they
// share the internal state) with an ExitStatus whose code and signal are unknown.
//
// Thread-safety: internal work runs on a private strand of the executor given at construction.
// The awaitables may be awaited from any executor and concurrently; the const accessors may be
// called from any thread. Construction, move and destruction must not race with other calls.
//
// Cancellation: async_wait_exit() and async_wait_readiness_line() support per-operation
// cancellation (terminal, partial, total) and then throw Error(errc::cancelled); cancelling
// them never affects the child.
// terminate() forwards cancellation to its internal waits: a cancelled terminate() leaves the
// child signalled but possibly not yet reaped (the destructor still reaps it).
#pragma once

#include <sys/types.h>

#include <array>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "inference/llama_server/launch_spec.hpp"
#include "inference/llama_server/output_ring.hpp"
#include "inference/llama_server/server_endpoint.hpp"

namespace inference::llama_server {

namespace detail {
struct ServerProcessState;
}  // namespace detail

// How the child ended.
struct ExitStatus {
  std::optional<int> exit_code;  // set when it exited normally
  std::optional<int> signal;     // set when a signal killed it
  std::string output_tail;       // its last output lines at the time of exit

  // "exited with status 1", "was killed by signal 9 (KILL)" or "exit status unknown" (reaped by
  // the destructor before the watcher saw it).
  std::string describe() const;
};

struct ServerProcessOptions {
  std::size_t output_capacity = OutputRing::kDefaultCapacity;
  // Called with every complete output line, from the internal strand (keep it cheap).
  OutputRing::LineSink log_sink;
  // Parent of the per-launch 0700 socket directory. Empty: $TMPDIR, falling back to /tmp when
  // unset or when the socket path would not fit a sockaddr_un or contains ','.
  std::filesystem::path runtime_directory;
};

// After the exit is seen, how long to wait for the pipe's EOF so the tail holds the child's last
// words. EOF normally precedes the exit notification; this only bounds a pathological case and
// keeps "exit noticed → streams failed" well inside 100 ms.
inline constexpr std::chrono::milliseconds kOutputDrainAfterExit{50};
// Output lines after which asking /health again is worthwhile, for both transports: the server
// in .deps prints "model loaded" and then "listening on unix://..." or "listening on
// http://127.0.0.1:..." once it serves; builds that listen before loading print the same two
// lines in the other order.
inline constexpr std::array<std::string_view, 2> kReadinessMarkers{"model loaded", "listening on"};
// Output lines quoted in exit statuses and error messages.
inline constexpr std::size_t kErrorTailLines = 20;
// Bytes of entropy in the per-launch API key (hex-encoded: 32 characters).
inline constexpr std::size_t kApiKeyBytes = 16;
// The socket file name inside the private directory; the ".sock" suffix is what tells
// llama-server to bind a UNIX socket.
inline constexpr std::string_view kSocketFileName = "llama.sock";

class ServerProcess {
 public:
  // Chooses the transport (spec.transport against spec.features), creates the socket directory
  // or picks a free TCP port, and spawns spec.binary with build_server_arguments() and
  // build_server_environment(). Returns once the child runs (exec succeeded); it is usually not
  // ready yet (see wait_until_ready). Throws Error(child_start_failed) when the child cannot be
  // started or the transport is impossible, Error(invalid_argument) for a bad spec.
  //
  // TCP port choice: the kernel picks a free port (bind to port 0), the socket is closed and the
  // number passed to the child. Another process can take the port in between; the child then
  // exits at once with "couldn't bind" (failed_to_bind() is true) and the launch must be retried
  // with a new ServerProcess. llama-server cannot adopt an inherited listening socket, so this
  // window cannot be closed from here; UNIX sockets do not have it.
  ServerProcess(boost::asio::any_io_executor executor, const LaunchSpec& spec, ServerProcessOptions options = {});

  ServerProcess(ServerProcess&&) noexcept;
  ServerProcess& operator=(ServerProcess&&) noexcept;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess();

  // The child's pid (also its process group id).
  pid_t pid() const noexcept;
  // Where the child listens, with the key every request must send ("Authorization: Bearer").
  const ServerEndpoint& endpoint() const noexcept;
  // The private 0700 directory holding the socket; std::nullopt for TCP.
  const std::optional<std::filesystem::path>& socket_directory() const noexcept;

  // The child's captured output (thread-safe) and its last lines joined with '\n'.
  const OutputRing& output() const noexcept;
  std::string output_tail(std::size_t lines = kErrorTailLines) const;

  // The exit status once the exit has been observed (and the child reaped), else std::nullopt.
  std::optional<ExitStatus> exit_status() const;

  // The kernel's view, without reaping: true once the child has exited, even before the exit is
  // observed (its output may still be draining, or the strand is busy). Lets a caller tell "dead
  // but not reported yet" from "alive" without waiting for the observation.
  bool has_exited() const noexcept;

  // True when the child's output says it could not bind its listening address (the TCP port
  // race above); only meaningful after it exited.
  bool failed_to_bind() const;

  // Completes when the child has exited and been reaped, with how it ended. Returns at once if
  // that already happened. Any number of awaiters may wait concurrently.
  boost::asio::awaitable<ExitStatus> async_wait_exit();

  // How many output lines containing one of kReadinessMarkers the child has printed so far.
  uint64_t readiness_lines() const;
  // Completes once the child has printed more than `seen` such lines, or has exited (at once
  // if either is already so). Any number of awaiters may wait concurrently.
  boost::asio::awaitable<void> async_wait_readiness_line(uint64_t seen);

  // Synchronous: SIGKILL to the process group, the child reaped and the socket directory
  // removed before this returns (as the destructor does); waiters then see an unknown status.
  // Idempotent; for paths where the executor may never run again.
  void kill_now() noexcept;

  // SIGTERM to the process group, up to `grace` for it to exit, then SIGKILL to the group; the
  // child is reaped before this completes. Returns at once with the status if it already exited.
  // The grace is the caller's (the engine's shutdown_grace_ms option).
  boost::asio::awaitable<ExitStatus> terminate(std::chrono::milliseconds grace);

 private:
  std::shared_ptr<detail::ServerProcessState> state_;
};

}  // namespace inference::llama_server
