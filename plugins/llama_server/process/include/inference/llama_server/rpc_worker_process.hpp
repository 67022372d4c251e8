// RpcWorkerProcess: one running ggml-rpc-server child, from spawn to reaped, with the same
// guarantees as a llama-server child (child_spawn): its own process group, SIGKILL when the host
// dies (PR_SET_PDEATHSIG), no inherited descriptors, and its stdout and stderr captured line by
// line into an OutputRing whose sink sees every line.
//
// Ownership: move-only; owns the child and its output. Destroying it (or kill_now()) SIGKILLs the
// group and reaps the child synchronously, so no worker and no zombie outlive it.
// Thread-safety: none; construct, await and destroy it from one thread running the executor
// given at construction (llmctl's io_context). The sink is called on that thread, and never
// after the object is destroyed (so it may capture what lives as long as the object).
// Cancellation: async_wait_exit() may be cancelled (per-operation, terminal) without affecting
// the child; it then throws boost::system::system_error(operation_aborted). terminate() forwards
// cancellation to its waits; the destructor still reaps the child.
#pragma once

#include <sys/types.h>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "inference/llama_server/output_ring.hpp"
#include "inference/llama_server/rpc_worker_spec.hpp"
#include "inference/llama_server/server_process.hpp"

namespace inference::llama_server {

namespace detail {
struct RpcWorkerState;
}  // namespace detail

class RpcWorkerProcess {
 public:
  // Spawns spec.binary with rpc_worker_arguments(spec) and this process' environment. Returns
  // once the child runs (exec succeeded); whether it accepts connections is the caller's to
  // check. Throws Error(child_start_failed) naming the binary when it cannot be started.
  RpcWorkerProcess(boost::asio::any_io_executor executor, const RpcWorkerSpec& spec, OutputRing::LineSink sink);

  RpcWorkerProcess(RpcWorkerProcess&&) noexcept;
  RpcWorkerProcess& operator=(RpcWorkerProcess&&) noexcept;
  RpcWorkerProcess(const RpcWorkerProcess&) = delete;
  RpcWorkerProcess& operator=(const RpcWorkerProcess&) = delete;
  ~RpcWorkerProcess();

  // The child's pid (also its process group id).
  pid_t pid() const noexcept;

  // Its last output lines joined with '\n'.
  std::string output_tail(std::size_t lines = kErrorTailLines) const;

  // True when its output says it could not bind its address (kRpcWorkerBindFailureMarker).
  bool failed_to_bind() const;

  // Completes when the child has exited and been reaped (and its output drained, within
  // kOutputDrainAfterExit), with how it ended. Returns at once when that already happened.
  boost::asio::awaitable<ExitStatus> async_wait_exit();

  // SIGTERM to the process group, up to `grace` for the child to exit, then SIGKILL; the child
  // is reaped before this completes.
  boost::asio::awaitable<ExitStatus> terminate(std::chrono::milliseconds grace);

  // Synchronous SIGKILL of the group and reap, as the destructor does. Idempotent.
  void kill_now() noexcept;

 private:
  std::shared_ptr<detail::RpcWorkerState> state_;
};

}  // namespace inference::llama_server
