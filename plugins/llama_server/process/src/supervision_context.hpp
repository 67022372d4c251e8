// SupervisionContext: the engine's own io_context and the one thread that runs it, for
// everything that watches a server rather than serves a request: forking children, reading
// their output, observing their exit, the stall watchdog and restarts.
//
// Why a thread of its own:
// - PR_SET_PDEATHSIG fires when the *thread* that forked a child exits, not only the process.
//   Forking from this thread, which lives as long as the engine is loaded, lets a host load a
//   model from a short-lived thread without its server dying with that thread, while the
//   server still dies with the host process.
// - An idle model is then no outstanding work on the host's io_context (like a socket with no
//   pending operation): io_context::run() returns once the host's own work is done. Requests
//   still run entirely on the host's executor; only their bookkeeping with the supervisor (an
//   atomic per token) crosses over.
//
// Lifetime: created on first use; destroyed by static destruction (process exit, or unloading
// the plugin, when no model of it is left): the thread is joined (the kernel then sends
// PR_SET_PDEATHSIG to any child still alive) and the io_context destroyed, which stops and
// reaps every server still supervised (ContextLifetime, in ServerSupervisor).
// A forked child process gets an instance of its own on first use (the parent's thread does not
// exist in it). Thread-safety: every member may be called from any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <thread>

namespace inference::llama_server::detail {

class SupervisionContext {
 public:
  static SupervisionContext& instance();
  SupervisionContext(const SupervisionContext&) = delete;
  SupervisionContext& operator=(const SupervisionContext&) = delete;
  ~SupervisionContext();

  boost::asio::any_io_executor executor() { return io_.get_executor(); }

  // Runs `job` on the supervision thread and waits for it (inline when called there); rethrows
  // what it threw. For short synchronous work that must happen on that thread (fork).
  void run_on_thread(const std::function<void()>& job);

 private:
  SupervisionContext();

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;  // last: started once the members above exist
};

}  // namespace inference::llama_server::detail
