#include "inference/llama_server/rpc_worker_check.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>

#include "child_spawn.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/server_devices.hpp"
#include "probe_child.hpp"

namespace inference::llama_server {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

// Resolves and connects; false on any failure (a refused connection answers at once, and must
// not wait for the timer).
asio::awaitable<bool> try_connect(const RpcWorker& worker, asio::ip::tcp::resolver& resolver,
                                  asio::ip::tcp::socket& socket) {
  try {
    const auto endpoints = co_await resolver.async_resolve(
        worker.host, std::to_string(worker.port), asio::ip::resolver_base::numeric_service, asio::use_awaitable);
    co_await asio::async_connect(socket, endpoints, asio::use_awaitable);
    co_return true;
  } catch (const boost::system::system_error&) {
    co_return false;
  }
}

// On a strand of its own: the race below touches cancellation slots from its two branches.
asio::awaitable<bool> answers(RpcWorker worker, std::chrono::milliseconds timeout) {
  const auto executor = co_await asio::this_coro::executor;
  asio::ip::tcp::resolver resolver(executor);
  asio::ip::tcp::socket socket(executor);
  asio::steady_timer deadline(executor, timeout);
  auto first = co_await (try_connect(worker, resolver, socket) || deadline.async_wait(asio::use_awaitable));
  co_return first.index() == 0 && std::get<0>(first);
}

constexpr std::string_view kRpcNotSupported = "RPC not supported in this build";

// The RPC devices of the listing, one per worker in order ("RPC0: 127.0.0.1:50101 (...)"); a
// worker the listing leaves out is refused by name.
std::vector<std::string> listed_workers(const detail::ProbeCommand& command, const std::vector<RpcWorker>& workers,
                                        const std::string& output) {
  const std::optional<ServerDeviceList> list = parse_server_devices(output);
  if (!list) detail::throw_probe_failure(command, "printed no device list", output);
  std::vector<std::string> listed;
  std::string missing;
  for (const RpcWorker& worker : workers) {
    const std::vector<ServerDevice> rpc = list->devices_of("RPC");
    // "127.0.0.1:50101", or followed by more about a worker with several devices; never a
    // prefix of another port ("127.0.0.1:5010" is not "127.0.0.1:50101").
    const std::string endpoint = worker.endpoint();
    const auto found = std::find_if(rpc.begin(), rpc.end(), [&](const ServerDevice& device) {
      const std::string& text = device.description;
      return text.rfind(endpoint, 0) == 0 &&
             (text.size() == endpoint.size() || !std::isdigit(static_cast<unsigned char>(text[endpoint.size()])));
    });
    if (found == rpc.end()) {
      missing += (missing.empty() ? "" : ", ") + worker.endpoint();
    } else {
      listed.push_back(found->describe());
    }
  }
  if (!missing.empty()) {
    throw Error(errc::backend_unavailable,
                "llama-server " + command.binary.string() + " does not list RPC worker(s) " + missing, output);
  }
  return listed;
}

}  // namespace

asio::awaitable<std::vector<RpcWorker>> unreachable_rpc_workers(std::vector<RpcWorker> workers,
                                                                std::chrono::milliseconds timeout) {
  const auto executor = co_await asio::this_coro::executor;
  using Spawned = decltype(asio::co_spawn(executor, answers(RpcWorker{}, timeout), asio::deferred));
  std::vector<Spawned> checks;
  for (const RpcWorker& worker : workers) {
    checks.push_back(asio::co_spawn(asio::make_strand(executor), answers(worker, timeout), asio::deferred));
  }
  auto [order, failures, answered] = co_await asio::experimental::make_parallel_group(std::move(checks))
                                         .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  std::vector<RpcWorker> unreachable;
  for (std::size_t i = 0; i < workers.size(); ++i) {
    if (failures[i]) std::rethrow_exception(failures[i]);  // cancelled
    if (!answered[i]) unreachable.push_back(workers[i]);
  }
  co_return unreachable;
}

asio::awaitable<std::optional<std::string>> rpc_workers_gone(std::vector<RpcWorker> workers,
                                                             std::chrono::milliseconds timeout) {
  const std::vector<RpcWorker> unreachable = co_await unreachable_rpc_workers(std::move(workers), timeout);
  if (unreachable.empty()) co_return std::nullopt;
  std::string names;
  for (const RpcWorker& worker : unreachable) names += (names.empty() ? "" : ", ") + worker.endpoint();
  co_return unreachable.size() == 1 ? "RPC worker " + names + " does not answer"
                                    : "RPC workers " + names + " do not answer";
}

asio::awaitable<std::vector<std::string>> probe_rpc_workers(std::filesystem::path binary,
                                                            std::vector<RpcWorker> workers,
                                                            std::chrono::milliseconds timeout) {
  detail::ProbeCommand command;
  command.binary = std::move(binary);
  command.arguments = {"--rpc", rpc_argument(workers), "--list-devices"};
  command.environment = detail::current_environment();
  const std::string no_backtrace = std::string(kNoBacktraceVariable) + "=";
  std::erase_if(command.environment, [&](const std::string& entry) { return entry.rfind(no_backtrace, 0) == 0; });
  // A worker lost between the checks makes it abort: at once, not after gdb's backtrace.
  command.environment.push_back(std::string(kNoBacktraceVariable) + "=1");
  std::string output;
  try {
    output = co_await detail::run_probe_child(command, timeout);
  } catch (const Error& e) {
    if (e.is(errc::cancelled)) throw;
    if (e.detail().find(kRpcNotSupported) != std::string::npos) {
      throw Error(errc::backend_unavailable,
                  "backend option rpc needs a llama-server with ggml's RPC backend, and " + command.binary.string() +
                      " has none (it answers --rpc with \"" + std::string(kRpcNotSupported) +
                      "\"): install llama-server-rpc with scripts/install-llama-server-gpu rpc, or point server_path "
                      "at such a build",
                  e.detail());
    }
    throw Error(errc::backend_unavailable,
                "RPC workers " + rpc_argument(workers) + ": " + e.context() +
                    " (a worker serves one llama-server at a time; is one busy?)",
                e.detail());
  }
  co_return listed_workers(command, workers, output);
}

}  // namespace inference::llama_server
