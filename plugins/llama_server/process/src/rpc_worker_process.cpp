#include "inference/llama_server/rpc_worker_process.hpp"

#include <signal.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <optional>
#include <utility>

#include "child_spawn.hpp"
#include "child_watch.hpp"

namespace inference::llama_server {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace detail {

// Shared by the RpcWorkerProcess and its two coroutines (output pump, exit watcher), so either
// may finish after the object is gone. Used from one thread only (see the header).
struct RpcWorkerState {
  RpcWorkerState(const asio::any_io_executor& executor, OutputRing::LineSink sink)
      : sink(std::move(sink)),
        ring(OutputRing::kDefaultCapacity,
             [this](std::string_view line) {
               if (this->sink) this->sink(line);
             }),
        output_drained(executor, asio::steady_timer::time_point::max()),
        exited(executor, asio::steady_timer::time_point::max()) {}

  // The owner's; cleared when the RpcWorkerProcess goes, so the coroutines that outlive it
  // (draining the last output) never call into a sink whose captures are gone.
  OutputRing::LineSink sink;
  OutputRing ring;
  std::optional<SpawnedChild> child;
  pid_t pid = -1;
  bool reaped = false;
  bool output_closed = false;
  std::optional<ExitStatus> exit;
  // Never expire: cancel() is the event (the output's EOF; the exit recorded).
  asio::steady_timer output_drained;
  asio::steady_timer exited;
};

}  // namespace detail

namespace {

using State = detail::RpcWorkerState;

asio::awaitable<void> pump_output(std::shared_ptr<State> state) {
  co_await pump_child_output(*state->child, state->ring, state->output_closed, state->output_drained);
}

asio::awaitable<void> watch_exit(std::shared_ptr<State> state) {
  ExitStatus status = co_await reap_child(*state->child, state->ring, state->output_closed, state->output_drained,
                                          [&state] { state->reaped = true; });
  state->exit = std::move(status);
  state->exited.cancel();
}

asio::awaitable<ExitStatus> wait_for_exit(std::shared_ptr<State> state) {
  if (!state->exit) {
    boost::system::error_code ec;
    co_await state->exited.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    // The timer never expires: a wake-up without a recorded exit is our own cancellation.
    if (!state->exit) throw boost::system::system_error(asio::error::operation_aborted, "waiting for ggml-rpc-server");
  }
  co_return *state->exit;
}

asio::awaitable<ExitStatus> terminate_worker(std::shared_ptr<State> state, std::chrono::milliseconds grace) {
  if (state->exit) co_return *state->exit;
  if (!state->reaped) ::kill(-state->pid, SIGTERM);
  asio::steady_timer grace_timer(state->exited.get_executor(), grace);
  auto first = co_await (wait_for_exit(state) || grace_timer.async_wait(asio::use_awaitable));
  if (first.index() == 0) co_return std::get<0>(std::move(first));
  if (!state->reaped) ::kill(-state->pid, SIGKILL);
  co_return co_await wait_for_exit(state);
}

}  // namespace

RpcWorkerProcess::RpcWorkerProcess(asio::any_io_executor executor, const RpcWorkerSpec& spec, OutputRing::LineSink sink)
    : state_(std::make_shared<State>(executor, std::move(sink))) {
  state_->child.emplace(
      detail::spawn_child(executor, {spec.binary, rpc_worker_arguments(spec), detail::current_environment()}));
  state_->pid = state_->child->pid;
  asio::co_spawn(executor, pump_output(state_), asio::detached);
  asio::co_spawn(executor, watch_exit(state_), asio::detached);
}

RpcWorkerProcess::RpcWorkerProcess(RpcWorkerProcess&&) noexcept = default;

RpcWorkerProcess& RpcWorkerProcess::operator=(RpcWorkerProcess&& other) noexcept {
  if (this != &other) {
    RpcWorkerProcess doomed(std::move(*this));  // our current child dies like in the destructor
    state_ = std::move(other.state_);
  }
  return *this;
}

RpcWorkerProcess::~RpcWorkerProcess() {
  if (!state_) return;
  kill_now();
  state_->sink = nullptr;
}

void RpcWorkerProcess::kill_now() noexcept {
  // The watcher (if still waiting) then finds the child reaped and reports an unknown status.
  if (!std::exchange(state_->reaped, true)) detail::kill_group_and_reap(state_->pid);
}

pid_t RpcWorkerProcess::pid() const noexcept { return state_->pid; }

std::string RpcWorkerProcess::output_tail(std::size_t lines) const { return state_->ring.tail_text(lines); }

bool RpcWorkerProcess::failed_to_bind() const {
  return state_->ring.tail_text(kErrorTailLines).find(kRpcWorkerBindFailureMarker) != std::string::npos;
}

asio::awaitable<ExitStatus> RpcWorkerProcess::async_wait_exit() { return wait_for_exit(state_); }

asio::awaitable<ExitStatus> RpcWorkerProcess::terminate(std::chrono::milliseconds grace) {
  return terminate_worker(state_, grace);
}

}  // namespace inference::llama_server
