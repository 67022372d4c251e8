#include "inference/llama_server/rpc_worker_check.hpp"

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

#include "inference/error.hpp"
#include "inference/llama_server/server_devices.hpp"

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

asio::awaitable<void> require_rpc_backend(std::filesystem::path binary) {
  const ServerDeviceList devices = co_await probe_server_devices_cached(binary);
  if (devices.has_runtime("RPC")) co_return;
  throw Error(errc::backend_unavailable,
              "backend option rpc needs a llama-server with ggml's RPC backend, and " + binary.string() +
                  " has none (its --list-devices loads no RPC backend): install llama-server-rpc with "
                  "scripts/install-llama-server-gpu rpc, or point server_path at such a build");
}

}  // namespace inference::llama_server
