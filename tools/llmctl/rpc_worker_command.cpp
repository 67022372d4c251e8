// llmctl rpc-worker: runs and supervises one local ggml-rpc-server (llama.cpp's RPC worker), so a
// machine that lends its CPU or GPUs to a llama-server elsewhere needs only this project. The
// worker is spawned by the process layer (its own process group, SIGKILL if llmctl dies), its
// log is forwarded to stderr line by line, "rpc-worker: serving HOST:PORT (DEVICES) pid N" goes
// to stdout once it accepts connections, a crash is restarted within a RestartBudget, and
// SIGINT/SIGTERM stop it (exit 0). Security: the worker has no authentication, so only loopback
// binds are allowed without --allow-remote-bind (rpc_worker_spec.hpp).
#include <fmt/core.h>

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <csignal>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "commands.hpp"
#include "diagnostics.hpp"
#include "exit_status.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/rpc_worker_process.hpp"
#include "inference/llama_server/rpc_worker_spec.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "restart_budget.hpp"

namespace llmctl {
namespace {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using inference::errc;
using inference::Error;
using inference::llama_server::ExitStatus;
using inference::llama_server::RpcWorkerProcess;
using inference::llama_server::RpcWorkerSpec;
using tcp = asio::ip::tcp;

// Three restarts a minute, the first after 200 ms and doubling, as the engine restarts
// llama-server: enough to ride out a crash or two, not enough to spin on a worker that cannot run.
constexpr std::size_t kRestartBudget = 3;
constexpr std::chrono::seconds kRestartWindow{60};
constexpr std::chrono::milliseconds kRestartBackoff{200};
// ggml-rpc-server prints nothing once it listens, so readiness is a connect that succeeds; it
// lists its devices first (milliseconds), so a short retry interval costs nothing.
constexpr std::chrono::milliseconds kReadinessRetry{20};
// Device enumeration on a slow GPU driver can take seconds; a worker silent this long is broken.
constexpr std::chrono::seconds kReadinessTimeout{60};
// SIGTERM, then this long for the worker to exit, then SIGKILL.
constexpr std::chrono::seconds kStopGrace{5};
// A forwarded log line longer than this is cut (the ring already bounds what it hands over).
constexpr std::size_t kMaxForwardedLine = 2048;
// What the worker logs for every connection, the readiness probe's included.
constexpr std::string_view kAcceptedMarker = "Accepted client connection";
// How long the serving line waits for the probe's connection to show in the log (it lists the
// devices); a worker build that logs no such line is announced without waiting longer.
constexpr std::chrono::seconds kAcceptLogWait{2};

struct RpcWorkerOptions {
  RpcWorkerSpec spec;
  std::string worker_path;
};

// What the worker's log said so far; filled by the output sink on the io thread.
struct WorkerLog {
  explicit WorkerLog(const asio::any_io_executor& executor)
      : line_seen(executor, asio::steady_timer::time_point::max()) {}

  std::vector<std::string> devices;  // rpc_worker_device_summary() of the lines listing them
  bool accepted = false;             // it logged kAcceptedMarker
  asio::steady_timer line_seen;      // never expires: cancelled at every line (the event)
};

// The worker's log on our stderr, and what the serving line needs from it.
inference::llama_server::OutputRing::LineSink forward_log(WorkerLog& log) {
  return [&log](std::string_view line) {
    if (auto device = inference::llama_server::rpc_worker_device_summary(line))
      log.devices.push_back(std::move(*device));
    if (line.find(kAcceptedMarker) != std::string_view::npos) log.accepted = true;
    log.line_seen.cancel();
    const bool cut = line.size() > kMaxForwardedLine;
    fmt::print(stderr, "ggml-rpc-server: {}{}\n", line.substr(0, kMaxForwardedLine), cut ? " [cut]" : "");
  };
}

// Completes once the worker has logged accepting a connection. The output is one pipe, so the
// device lines it printed before listening have been read by then; a successful connect alone
// can complete before the pipe's data is read.
asio::awaitable<void> wait_for_accept_logged(WorkerLog& log) {
  while (!log.accepted) {
    boost::system::error_code ignored;
    co_await log.line_seen.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
  }
}

tcp::endpoint endpoint_of(const std::string& host, std::uint16_t port) { return {asio::ip::make_address(host), port}; }

// Fails early and clearly when the port is taken (the worker would only say "Failed to create
// server socket" and exit 0). Binds as the worker does, with SO_REUSEADDR, so a recently closed
// connection in TIME_WAIT does not count as "in use".
void check_port_free(asio::io_context& io, const RpcWorkerSpec& spec) {
  tcp::acceptor acceptor(io);
  const auto endpoint = endpoint_of(spec.host, spec.port);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  boost::system::error_code ec;
  acceptor.bind(endpoint, ec);
  if (ec == asio::error::address_in_use) {
    throw Error(errc::child_start_failed, fmt::format("{}:{} is already in use (another worker or program listens "
                                                      "there); choose another --port",
                                                      spec.host, spec.port));
  }
  if (ec) {
    throw Error(errc::child_start_failed, fmt::format("cannot bind {}:{}: {}", spec.host, spec.port, ec.message()));
  }
}

// Completes once a TCP connection to the worker succeeds; throws after kReadinessTimeout.
asio::awaitable<void> wait_until_accepting(const RpcWorkerSpec& spec, pid_t pid) {
  const auto executor = co_await asio::this_coro::executor;
  const auto probe = endpoint_of(inference::llama_server::rpc_worker_probe_host(spec.host), spec.port);
  const auto deadline = std::chrono::steady_clock::now() + kReadinessTimeout;
  for (;;) {
    tcp::socket socket(executor);
    boost::system::error_code ec;
    co_await socket.async_connect(probe, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_return;
    if (std::chrono::steady_clock::now() >= deadline) {
      throw Error(errc::load_timeout, fmt::format("ggml-rpc-server (pid {}) did not accept connections on {}:{} "
                                                  "within {} s",
                                                  pid, spec.host, spec.port, kReadinessTimeout.count()));
    }
    asio::steady_timer retry(executor, kReadinessRetry);
    co_await retry.async_wait(asio::use_awaitable);
  }
}

// Announces the worker once it accepts, then waits for SIGINT/SIGTERM; returns the signal (which
// may also come before the worker accepts).
asio::awaitable<int> serve_until_signal(const RpcWorkerSpec& spec, const RpcWorkerProcess& worker, WorkerLog& log,
                                        asio::signal_set& signals) {
  // A signal during a slow start stops it too.
  auto ready = co_await (wait_until_accepting(spec, worker.pid()) || signals.async_wait(asio::use_awaitable));
  if (ready.index() == 1) co_return std::get<1>(ready);
  asio::steady_timer log_wait(co_await asio::this_coro::executor, kAcceptLogWait);
  co_await (wait_for_accept_logged(log) || log_wait.async_wait(asio::use_awaitable));
  std::string listed;
  for (const auto& device : log.devices) listed += (listed.empty() ? "" : "; ") + device;
  fmt::print("rpc-worker: serving {}:{} ({}) pid {}\n", spec.host, spec.port,
             listed.empty() ? "no devices listed" : listed, worker.pid());
  std::fflush(stdout);
  co_return co_await signals.async_wait(asio::use_awaitable);
}

// How one worker's life ended: stopped by our signal, or on its own.
struct WorkerEnd {
  std::optional<ExitStatus> crash;  // unset: stopped by a signal
  bool failed_to_bind = false;
  pid_t pid = -1;
};

asio::awaitable<WorkerEnd> run_worker(const RpcWorkerSpec& spec, asio::signal_set& signals) {
  WorkerLog log(co_await asio::this_coro::executor);
  RpcWorkerProcess worker(log.line_seen.get_executor(), spec, forward_log(log));
  auto first = co_await (worker.async_wait_exit() || serve_until_signal(spec, worker, log, signals));
  if (first.index() == 0) co_return WorkerEnd{std::get<0>(std::move(first)), worker.failed_to_bind(), worker.pid()};
  fmt::print(stderr, "llmctl: rpc-worker: signal {}: stopping ggml-rpc-server (pid {})\n", std::get<1>(first),
             worker.pid());
  const auto status = co_await worker.terminate(kStopGrace);
  fmt::print(stderr, "llmctl: rpc-worker: ggml-rpc-server (pid {}) {}\n", worker.pid(), status.describe());
  co_return WorkerEnd{std::nullopt, false, worker.pid()};
}

// Runs workers until a signal stops one (returns) or the restart budget is spent (throws).
asio::awaitable<void> supervise(const RpcWorkerSpec& spec, asio::signal_set& signals) {
  RestartBudget budget(kRestartBudget, kRestartWindow, kRestartBackoff);
  for (;;) {
    const WorkerEnd end = co_await run_worker(spec, signals);
    if (!end.crash) co_return;
    const std::string what = fmt::format("ggml-rpc-server (pid {}) {}", end.pid, end.crash->describe());
    if (end.failed_to_bind) {
      throw Error(errc::child_start_failed, fmt::format("{}: it could not bind {}:{}", what, spec.host, spec.port),
                  end.crash->output_tail);
    }
    const auto delay = budget.on_crash(std::chrono::steady_clock::now());
    if (!delay) {
      throw Error(
          errc::child_exited,
          fmt::format("{}; giving up after {} restarts within {} s", what, kRestartBudget, kRestartWindow.count()),
          end.crash->output_tail);
    }
    report_warning(fmt::format("rpc-worker: {}; restarting in {} ms ({} of {} restarts within {} s)", what,
                               delay->count(), budget.restarts_in_window(), kRestartBudget, kRestartWindow.count()));
    asio::steady_timer backoff(co_await asio::this_coro::executor, *delay);
    auto waited = co_await (backoff.async_wait(asio::use_awaitable) || signals.async_wait(asio::use_awaitable));
    if (waited.index() == 1) co_return;
  }
}

// Runs until a signal stops the worker; throws when it cannot start or keeps crashing.
void supervise_until_stopped(const RpcWorkerSpec& spec) {
  asio::io_context io(1);
  // Before the first spawn: a signal that arrives while the worker starts still stops it cleanly.
  asio::signal_set signals(io, SIGINT, SIGTERM);
  check_port_free(io, spec);
  auto done = asio::co_spawn(io, supervise(spec, signals), asio::use_future);
  io.run();
  done.get();  // rethrows the supervisor's error
}

int run_rpc_worker(RpcWorkerOptions options) {
  try {
    inference::llama_server::check_rpc_worker_spec(options.spec);
  } catch (const Error& e) {
    report_error(fmt::format("rpc-worker: {}", e.context()));
    return kExitUsage;
  }
  try {
    options.spec.binary = inference::llama_server::find_rpc_worker_binary(
        options.worker_path.empty() ? std::nullopt : std::optional<std::filesystem::path>(options.worker_path));
    supervise_until_stopped(options.spec);
  } catch (const Error& e) {
    throw Error(e.code(), "rpc-worker: " + e.context(), e.detail());
  }
  return kExitSuccess;
}

}  // namespace

void add_rpc_worker_command(CLI::App& app, CommandAction& action) {
  auto options = std::make_shared<RpcWorkerOptions>();
  auto* command = app.add_subcommand(
      "rpc-worker",
      "Run and supervise a ggml-rpc-server that lends this machine to llama-server --rpc (docs/scale-out.md)");
  command->add_option("--port", options->spec.port, "Port the worker listens on")->required();
  command->add_option("--host", options->spec.host, "Address to bind (loopback only unless --allow-remote-bind)")
      ->capture_default_str();
  command->add_option("--threads", options->spec.threads, "CPU threads for the worker's CPU device");
  command->add_option("--device", options->spec.devices, "Device to offer (repeatable; default: all)")
      ->allow_extra_args(false)
      ->type_name("NAME");
  command->add_flag("--cache", options->spec.cache, "Enable the worker's local file cache for tensors (-c)");
  command->add_flag("--allow-remote-bind", options->spec.allow_remote_bind,
                    "Allow a non-loopback --host: the worker has no authentication, anyone reaching the port can use "
                    "it and read or write its memory");
  command
      ->add_option("--worker-path", options->worker_path,
                   "The ggml-rpc-server to run (else $GGML_RPC_SERVER_PATH, "
                   "the configured install, PATH)")
      ->type_name("PATH");
  command->callback([options, &action] { action = [options] { return run_rpc_worker(*options); }; });
}

}  // namespace llmctl
