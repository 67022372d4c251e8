// ServerSupervisor: keeps one llama-server serving for a model. It starts the server, watches
// it (exit and stalled requests), restarts it within a budget after a crash or a hang, and
// stops it at close. Requests ask it for the serving instance and register their activity so
// that a stall is noticed.
//
// Restart policy: after an unexpected exit the server is restarted after a backoff that starts
// at restart_backoff and doubles with each restart in the current window; at most
// restart_budget restarts per restart_window. Requests that wait for an instance meanwhile keep
// waiting; once the budget is spent the model is failed: every waiter and every later request
// gets Error(model_failed) naming the last exit, with the server's last output as its detail.
//
// Device loss: before each restart, `events.device_gone` (when set) is asked whether the
// server's device is still there; when it names a reason, the supervisor fails with
// Error(device_lost) instead of restarting (a vanished GPU must not be restarted in a loop).
//
// Remote parts: before each start (the first one and every restart), `events.remote_gone` (when
// set) is asked whether something the server needs elsewhere does not answer (an RPC worker:
// llama-server would abort at start). When it names one, that start fails with
// Error(backend_unavailable) naming it without spawning anything: the first start's error is the
// load's, a restart's counts against the budget like a crash at start (so a worker that comes
// back within the window is picked up, one that stays away fails the model naming it).
//
// Events: `serving_changed` is called with true when an instance starts serving (the first one
// and every restart) and with false when the serving one has exited or was killed; `failed`
// once, when the supervisor gives up (budget spent, device gone, or stopped: Error(closed)).
// Both are called on the supervision strand, never under the supervisor's lock; they must not
// block.
//
// Hang detection: a request registered with track() that has seen no progress for
// stall_timeout marks the instance hung and the whole process group is killed (SIGKILL), which
// fails the in-flight requests (they report child_hung) and triggers a restart.
//
// Ownership: shared (enable_shared_from_this); the supervision loop keeps it alive until stop()
// or stop_now(). Instances are shared with the requests using them, so a request can still ask
// its instance how it ended after a restart replaced it.
// Thread-safety: every member function is thread-safe. The loop runs on a private strand.
// Cancellation: acquire_instance() honours Asio per-operation cancellation (Error(cancelled)).
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "inference/context_lifetime.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/engine_options.hpp"
#include "inference/llama_server/launch_spec.hpp"
#include "inference/llama_server/server_process.hpp"
#include "inference/wait_queue.hpp"

namespace inference::llama_server {

// One started server, shared by the requests that use it.
struct ServerInstance {
  std::unique_ptr<ServerProcess> process;
  std::atomic<bool> hung{false};      // the watchdog killed it
  std::atomic<bool> stopping{false};  // close() is terminating it
};

struct SupervisorEvents {
  std::function<void(bool serving)> serving_changed;
  std::function<void(const Error& failure)> failed;
  std::function<std::optional<std::string>()> device_gone;
  std::function<boost::asio::awaitable<std::optional<std::string>>()> remote_gone;
};

class ServerSupervisor : public std::enable_shared_from_this<ServerSupervisor> {
 public:
  // A registered request; progress() marks it alive. Unregisters on destruction.
  class Activity {
   public:
    Activity(const Activity&) = delete;
    Activity& operator=(const Activity&) = delete;
    ~Activity();
    void progress() noexcept;

   private:
    friend class ServerSupervisor;
    Activity(std::shared_ptr<ServerSupervisor> owner, std::shared_ptr<ServerInstance> instance,
             std::function<void()> abort);
    std::shared_ptr<ServerSupervisor> owner_;
    std::shared_ptr<ServerInstance> instance_;
    std::function<void()> abort_;  // ends the request now (close() without drain)
    std::atomic<int64_t> last_progress_ns_;
    std::list<Activity*>::iterator position_;
  };

  ServerSupervisor(boost::asio::any_io_executor executor, LaunchSpec spec, EngineOptions options,
                   ServerProcessOptions process_options, SupervisorEvents events = {});
  ~ServerSupervisor();

  // Starts the first server and the supervision loop. Throws the start's error
  // (child_start_failed, load_timeout, ...) and then nothing is left running.
  boost::asio::awaitable<void> start();

  // The serving instance; during a restart, waits for it.
  boost::asio::awaitable<std::shared_ptr<ServerInstance>> acquire_instance();

  // Registers a request on `instance` for the stall watchdog.
  // `abort` ends the request at once; abort_requests() calls it (thread-safe, non-blocking).
  std::unique_ptr<Activity> track(std::shared_ptr<ServerInstance> instance, std::function<void()> abort = {});

  // Ends every registered request now (close() in cancel mode: llama-server does not act on
  // SIGTERM while it still streams to a client, so the streams go first).
  void abort_requests();

  // Stops restarting, terminates the server (SIGTERM, grace, SIGKILL) and waits for the loop.
  boost::asio::awaitable<void> stop(std::chrono::milliseconds grace);
  // Synchronous last resort (destructor path): kills and reaps the server now, removes its
  // socket directory, and stops restarting. Safe when the executor's context no longer runs.
  void stop_now() noexcept;
  // stop_now(), then drops everything bound to the executor's context (the strand, waiting
  // requests' handlers) without running it. Called (through a ContextLifetime) while that
  // context is being destroyed, so that this object may outlive it.
  void detach_from_context() noexcept;

  // events.remote_gone's answer (std::nullopt when there is none): asked by a request whose server
  // died under it, to name the remote part that took it down.
  boost::asio::awaitable<std::optional<std::string>> remote_gone() const;

  uint64_t restarts() const noexcept { return restarts_.load(); }
  // Gave up for good: restart budget spent (model_failed) or device gone (device_lost).
  bool failed() const;
  // Why it gave up (any failure, closed included), or std::nullopt while it runs.
  std::optional<Error> failure() const;
  const LaunchSpec& spec() const noexcept { return spec_; }
  // The serving instance right now, or nullptr while restarting or after failure.
  std::shared_ptr<ServerInstance> current() const;

 private:
  using InstanceQueue = WaitQueue<void(std::exception_ptr, std::shared_ptr<ServerInstance>)>;
  using LoopQueue = WaitQueue<void(std::exception_ptr)>;
  boost::asio::awaitable<void> supervise(std::shared_ptr<ServerInstance> first);
  // The supervision loop's steps: wait for the server's exit while watching for stalls; take a
  // restart from the budget (the backoff before it, or nothing when the budget is spent); read
  // stopping_ under the mutex.
  boost::asio::awaitable<ExitStatus> watch(ServerInstance& instance);
  std::optional<std::chrono::milliseconds> take_restart();
  bool is_stopping();
  boost::asio::awaitable<std::shared_ptr<ServerInstance>> launch();
  void check_stalls();
  void publish(std::shared_ptr<ServerInstance> instance);
  void fail(std::error_code code, std::string context, std::string detail = {});
  void unregister(Activity* activity) noexcept;
  bool serving_locked() const;
  void cancel_loop();
  void loop_finished();
  // Completes once the supervision loop has returned (at once when it is not running), or
  // after `bound`.
  boost::asio::awaitable<void> wait_loop_finished(std::chrono::milliseconds bound);

  // Reset only by detach_from_context() (under mutex_); the loop runs on it.
  std::optional<boost::asio::strand<boost::asio::any_io_executor>> strand_;
  boost::asio::cancellation_signal loop_cancel_;  // strand_ only: ends the supervision loop
  const LaunchSpec spec_;
  const EngineOptions options_;
  const ServerProcessOptions process_options_;
  const SupervisorEvents events_;

  mutable std::mutex mutex_;
  std::shared_ptr<ServerInstance> current_;
  std::list<Activity*> activities_;
  std::optional<Error> failure_;
  bool stopping_ = false;
  bool loop_running_ = false;
  // Requests waiting for a serving instance, and stop() waiting for the loop (mutex_ first).
  InstanceQueue instance_waiters_{
      [](std::monostate&) { return std::make_exception_ptr(Error(errc::cancelled, "waiting for llama-server")); }};
  LoopQueue loop_waiters_{[](std::monostate&) {
    return std::make_exception_ptr(Error(errc::cancelled, "waiting for the supervision loop to end"));
  }};
  std::atomic<uint64_t> restarts_{0};
  std::deque<std::chrono::steady_clock::time_point> restart_times_;
  // Last, so it unregisters first: calls detach_from_context() when the executor's context is
  // destroyed while this object lives on (a model kept in a global).
  ContextLifetime context_;
};

}  // namespace inference::llama_server
