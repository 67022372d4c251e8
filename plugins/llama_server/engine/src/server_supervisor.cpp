#include "inference/llama_server/server_supervisor.hpp"

#include <signal.h>

#include <algorithm>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "inference/error.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/server_launch.hpp"
#include "inference/llama_server/server_props.hpp"

namespace inference::llama_server {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using Clock = std::chrono::steady_clock;

namespace {

// The watchdog looks at the requests this often relative to the stall timeout: a stall is then
// noticed at most a quarter late, without waking up needlessly.
constexpr int kWatchdogChecksPerStallTimeout = 4;
constexpr std::chrono::milliseconds kMinWatchdogInterval{10};
constexpr std::chrono::milliseconds kMaxWatchdogInterval{1'000};
// Beyond the grace, what stop() allows the loop to notice the exit and return. A bound only:
// stop() is woken by the loop's end itself, normally within a millisecond of the exit.
constexpr std::chrono::milliseconds kStopLoopAllowance{2'000};

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

}  // namespace

// ---------------------------------------------------------------- activity

ServerSupervisor::Activity::Activity(std::shared_ptr<ServerSupervisor> owner, std::shared_ptr<ServerInstance> instance,
                                     std::function<void()> abort)
    : owner_(std::move(owner)), instance_(std::move(instance)), abort_(std::move(abort)), last_progress_ns_(now_ns()) {}

ServerSupervisor::Activity::~Activity() { owner_->unregister(this); }

void ServerSupervisor::Activity::progress() noexcept { last_progress_ns_.store(now_ns(), std::memory_order_relaxed); }

void ServerSupervisor::abort_requests() {
  std::vector<std::function<void()>> aborts;
  {
    std::lock_guard lock(mutex_);
    for (Activity* a : activities_) {
      if (a->abort_) aborts.push_back(a->abort_);
    }
  }
  for (auto& abort : aborts) abort();
}

std::unique_ptr<ServerSupervisor::Activity> ServerSupervisor::track(std::shared_ptr<ServerInstance> instance,
                                                                    std::function<void()> abort) {
  std::unique_ptr<Activity> activity(new Activity(shared_from_this(), std::move(instance), std::move(abort)));
  std::lock_guard lock(mutex_);
  activities_.push_front(activity.get());
  activity->position_ = activities_.begin();
  return activity;
}

void ServerSupervisor::unregister(Activity* activity) noexcept {
  std::lock_guard lock(mutex_);
  activities_.erase(activity->position_);
}

void ServerSupervisor::check_stalls() {
  const int64_t now = now_ns();
  const int64_t limit = std::chrono::duration_cast<std::chrono::nanoseconds>(options_.stall_timeout).count();
  std::lock_guard lock(mutex_);
  for (Activity* a : activities_) {
    auto& instance = *a->instance_;
    if (instance.hung.load() || !instance.process || instance.process->exit_status()) continue;
    if (now - a->last_progress_ns_.load(std::memory_order_relaxed) > limit) {
      instance.hung.store(true);
      // Its own process group: the wrapper, the server and anything it started.
      ::kill(-instance.process->pid(), SIGKILL);
    }
  }
}

// ---------------------------------------------------------------- lifecycle

ServerSupervisor::ServerSupervisor(asio::any_io_executor executor, LaunchSpec spec, EngineOptions options,
                                   ServerProcessOptions process_options, SupervisorEvents events)
    : strand_(asio::make_strand(executor)),
      spec_(std::move(spec)),
      options_(options),
      process_options_(std::move(process_options)),
      events_(std::move(events)),
      context_(executor, [this] { detach_from_context(); }) {}

ServerSupervisor::~ServerSupervisor() { stop_now(); }

asio::awaitable<std::shared_ptr<ServerInstance>> ServerSupervisor::launch() {
  const auto strand = co_await asio::this_coro::executor;
  if (std::optional<std::string> gone = co_await remote_gone()) {
    throw Error(errc::backend_unavailable, "llama-server not started: " + *gone);
  }
  auto process = co_await start_ready_server(strand, spec_, process_options_, options_.load_timeout);
  // Fail fast when the server does not run the configuration we asked for.
  HttpConnection control(strand, process->endpoint());
  const auto response = co_await control.request(HttpMethod::get, "/props");
  verify_server_props(parse_server_props(response.body), spec_.slots, spec_.context_per_slot);
  auto instance = std::make_shared<ServerInstance>();
  instance->process = std::move(process);
  co_return instance;
}

asio::awaitable<void> ServerSupervisor::start() {
  // On the strand, not the caller's executor: the readiness wait races several operations
  // (awaitable operators), whose cancellation slots must not be touched from two threads at
  // once, and the caller's executor may well be a multi-threaded io_context.
  const auto strand = *strand_;
  auto first = co_await asio::co_spawn(strand, launch(), asio::use_awaitable);
  {
    std::lock_guard lock(mutex_);
    loop_running_ = true;
  }
  publish(first);
  auto self = shared_from_this();
  asio::co_spawn(strand, supervise(std::move(first)),
                 asio::bind_cancellation_slot(loop_cancel_.slot(), [self](std::exception_ptr) {
                   // Cancelled by stop(), or failed: either way nothing restarts any more.
                   self->fail(make_error_code(errc::closed), "model closed");
                   self->loop_finished();
                 }));
}

void ServerSupervisor::loop_finished() {
  std::lock_guard lock(mutex_);
  loop_running_ = false;
  loop_waiters_.notify_all();
}

asio::awaitable<void> ServerSupervisor::wait_loop_finished(std::chrono::milliseconds bound) {
  auto finished = asio::async_initiate<const asio::deferred_t, void(std::exception_ptr)>(
      [this](auto handler) {
        std::lock_guard lock(mutex_);
        auto waiter = LoopQueue::make_handler(std::move(handler));
        if (!loop_running_) return loop_waiters_.complete(std::move(waiter), nullptr);
        loop_waiters_.push(std::move(waiter));
      },
      asio::deferred);
  // Plain operations raced in a parallel group (no co_spawn, see docs/architecture.md): the
  // first to complete cancels the other.
  asio::steady_timer timer(co_await asio::this_coro::executor, bound);
  co_await asio::experimental::make_parallel_group(std::move(finished), timer.async_wait(asio::deferred))
      .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
}

void ServerSupervisor::publish(std::shared_ptr<ServerInstance> instance) {
  {
    std::lock_guard lock(mutex_);
    current_ = instance;
    instance_waiters_.notify_all(std::move(instance));
  }
  if (events_.serving_changed) events_.serving_changed(true);
}

void ServerSupervisor::fail(std::error_code code, std::string context, std::string detail) {
  std::optional<Error> first;
  {
    std::lock_guard lock(mutex_);
    // The first failure is the cause: closing a failed model must not hide why it failed.
    if (!failure_) {
      failure_.emplace(code, std::move(context), std::move(detail));
      first = failure_;
    }
    current_.reset();
    if (!instance_waiters_.empty()) instance_waiters_.fail_all(std::make_exception_ptr(*failure_));
  }
  if (first && events_.failed) events_.failed(*first);
}

// Until the server exits, looking for stalled requests every watchdog interval.
asio::awaitable<ExitStatus> ServerSupervisor::watch(ServerInstance& instance) {
  const auto interval = std::clamp<std::chrono::milliseconds>(options_.stall_timeout / kWatchdogChecksPerStallTimeout,
                                                              kMinWatchdogInterval, kMaxWatchdogInterval);
  asio::steady_timer tick(co_await asio::this_coro::executor);
  for (;;) {
    tick.expires_after(interval);
    auto which = co_await (instance.process->async_wait_exit() || tick.async_wait(asio::use_awaitable));
    if (which.index() == 0) co_return std::get<0>(std::move(which));
    check_stalls();
  }
}

std::optional<std::chrono::milliseconds> ServerSupervisor::take_restart() {
  const auto now = Clock::now();
  while (!restart_times_.empty() && now - restart_times_.front() > options_.restart_window) restart_times_.pop_front();
  if (!options_.restart || restart_times_.size() >= options_.restart_budget) return std::nullopt;
  const auto backoff = options_.restart_backoff * (1LL << std::min<std::size_t>(restart_times_.size(), 16));
  restart_times_.push_back(now);
  return backoff;
}

bool ServerSupervisor::is_stopping() {
  std::lock_guard lock(mutex_);
  return stopping_;
}

asio::awaitable<void> ServerSupervisor::supervise(std::shared_ptr<ServerInstance> instance) {
  asio::steady_timer backoff_timer(co_await asio::this_coro::executor);
  std::string last_cause;
  std::string last_output;  // the tail the last server printed, for the failure's detail
  for (;;) {
    if (instance) {
      const ExitStatus status = co_await watch(*instance);
      bool stopping = false;
      {
        std::lock_guard lock(mutex_);
        if (current_ == instance) current_.reset();
        stopping = stopping_;
      }
      if (!stopping && events_.serving_changed) events_.serving_changed(false);
      if (stopping) {
        fail(make_error_code(errc::closed), "model closed");
        co_return;
      }
      last_cause = instance->hung.load() ? "stopped producing tokens for " +
                                               std::to_string(options_.stall_timeout.count()) + " ms and was killed"
                                         : status.describe();
      last_output = status.output_tail;
    }

    // A device that is gone would fail every restart: report it instead.
    if (events_.device_gone) {
      if (const std::optional<std::string> gone = events_.device_gone()) {
        fail(make_error_code(errc::device_lost), "llama-server " + last_cause + "; not restarted: " + *gone,
             last_output);
        co_return;
      }
    }
    // Restart within the budget, or give up.
    const std::optional<std::chrono::milliseconds> backoff = take_restart();
    if (!backoff) {
      fail(make_error_code(errc::model_failed),
           "llama-server " + last_cause + " (restart budget of " + std::to_string(options_.restart_budget) + " per " +
               std::to_string(options_.restart_window.count()) + " ms exhausted)",
           last_output);
      co_return;
    }
    if (is_stopping()) co_return;
    // stop() cancels the loop (loop_cancel_), which ends this wait at once.
    backoff_timer.expires_after(*backoff);
    co_await backoff_timer.async_wait(asio::use_awaitable);
    instance.reset();
    try {
      instance = co_await launch();
    } catch (const Error& e) {
      last_cause = std::string("failed to restart: ") + e.what();
      last_output = e.detail();
    }
    if (!instance) continue;
    restarts_.fetch_add(1);
    if (is_stopping()) {
      co_await instance->process->terminate(options_.shutdown_grace);
      co_return;
    }
    publish(instance);
  }
}

asio::awaitable<std::shared_ptr<ServerInstance>> ServerSupervisor::acquire_instance() {
  {
    std::lock_guard lock(mutex_);
    if (failure_) throw *failure_;
    if (stopping_) throw Error(errc::closed, "llama-server is stopping");
    if (serving_locked()) co_return current_;
  }
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>,
                                          void(std::exception_ptr, std::shared_ptr<ServerInstance>)>(
      [this](auto handler) {
        auto waiter = InstanceQueue::make_handler(std::move(handler));
        std::lock_guard lock(mutex_);
        if (failure_) return instance_waiters_.complete(std::move(waiter), std::make_exception_ptr(*failure_), nullptr);
        if (stopping_) {
          return instance_waiters_.complete(
              std::move(waiter), std::make_exception_ptr(Error(errc::closed, "llama-server is stopping")), nullptr);
        }
        if (serving_locked()) return instance_waiters_.complete(std::move(waiter), nullptr, current_);
        instance_waiters_.push(std::move(waiter));
      },
      asio::use_awaitable);
}

// An instance whose exit has been observed is dead even before the loop has replaced it;
// handing it out would fail a request that could wait for the restart instead.
bool ServerSupervisor::serving_locked() const {
  return current_ && current_->process && !current_->process->exit_status();
}

void ServerSupervisor::cancel_loop() {
  auto self = weak_from_this().lock();
  if (!self) return;  // destructor path: the loop, which owns a reference, has already ended
  std::optional<asio::strand<asio::any_io_executor>> strand;
  {
    std::lock_guard lock(mutex_);
    strand = strand_;
  }
  if (!strand) return;  // detached: the context is gone and the loop with it
  asio::post(*strand, [self] { self->loop_cancel_.emit(asio::cancellation_type::terminal); });
}

asio::awaitable<void> ServerSupervisor::stop(std::chrono::milliseconds grace) {
  std::shared_ptr<ServerInstance> instance;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    instance = current_;
  }
  fail(make_error_code(errc::closed), "model closed");
  if (instance) {
    instance->stopping.store(true);
    co_await instance->process->terminate(grace);
  }
  // A restart in progress (backoff or a launch) is abandoned; its child is killed and reaped.
  cancel_loop();
  // Wait for the loop to notice and return, so no supervision work outlives close().
  co_await wait_loop_finished(grace + kStopLoopAllowance);
}

void ServerSupervisor::stop_now() noexcept {
  std::shared_ptr<ServerInstance> instance;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    instance = std::move(current_);
  }
  if (instance && instance->process) {
    instance->stopping.store(true);
    // Reaped here, not by the watcher: the context that runs the watcher may never run again
    // (stopped, or being destroyed), and nothing may be left behind once this returns.
    instance->process->kill_now();
  }
  cancel_loop();
}

void ServerSupervisor::detach_from_context() noexcept {
  stop_now();
  std::optional<asio::strand<asio::any_io_executor>> strand;
  {
    std::lock_guard lock(mutex_);
    strand.swap(strand_);
  }
  // The loop's cancellation handler (installed by co_spawn) holds the strand too.
  loop_cancel_.slot().clear();
  // Destroyed, never completed: their coroutines belong to the context being destroyed.
  instance_waiters_.abandon();
  loop_waiters_.abandon();
}

asio::awaitable<std::optional<std::string>> ServerSupervisor::remote_gone() const {
  if (!events_.remote_gone) co_return std::nullopt;
  co_return co_await events_.remote_gone();
}

bool ServerSupervisor::failed() const {
  std::lock_guard lock(mutex_);
  return failure_.has_value() && (failure_->is(errc::model_failed) || failure_->is(errc::device_lost));
}

std::optional<Error> ServerSupervisor::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

std::shared_ptr<ServerInstance> ServerSupervisor::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

}  // namespace inference::llama_server
