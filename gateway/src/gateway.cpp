#include "inference/gateway/gateway.hpp"

#include <fmt/core.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>

#include "gateway_context.hpp"
#include "http_connection.hpp"
#include "inference/error.hpp"

namespace inference::gateway {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

// After the drain, cancelled requests unwind (their streams free their slots) within this.
constexpr std::chrono::seconds kUnwindGrace{5};

}  // namespace

struct Gateway::State {
  State(asio::any_io_executor executor, Registry& registry, GatewayOptions options)
      : context(executor, registry, std::move(options)), acceptor(executor) {}

  GatewayContext context;
  tcp::acceptor acceptor;
  bool started = false;
  std::optional<Signal> accept_loop_done;
};

namespace {

tcp::endpoint resolve_listen_endpoint(const asio::any_io_executor& executor, const GatewayOptions& options) {
  tcp::resolver resolver(executor);
  boost::system::error_code ec;
  const auto results = resolver.resolve(options.host, std::to_string(options.port),
                                        tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    throw Error(errc::invalid_argument, fmt::format("cannot listen on {}:{}: {}", options.host, options.port,
                                                    ec ? ec.message() : "no address"));
  }
  return results.begin()->endpoint();
}

void open_acceptor(tcp::acceptor& acceptor, const tcp::endpoint& endpoint, const GatewayOptions& options) {
  boost::system::error_code ec;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    throw Error(errc::invalid_argument,
                fmt::format("cannot listen on {}:{}: {}", options.host, options.port, ec.message()));
  }
}

void spawn_connection(const std::shared_ptr<Gateway::State>& state, tcp::socket socket);

asio::awaitable<void> accept_loop(std::shared_ptr<Gateway::State> state) {
  auto& context = state->context;
  while (!context.stopping) {
    auto [ec, socket] = co_await state->acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (context.stopping) break;
    if (ec) {
      // Out of file descriptors and the like: say so, and keep serving the open connections.
      context.log(fmt::format("accept failed: {}", ec.message()));
      if (ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor) break;
      continue;
    }
    if (context.connections.size() >= context.options.max_connections) {
      asio::co_spawn(context.executor, refuse_connection(std::move(socket)), asio::detached);
      continue;
    }
    spawn_connection(state, std::move(socket));
  }
  state->accept_loop_done->set();
}

}  // namespace

namespace {

void spawn_connection(const std::shared_ptr<Gateway::State>& state, tcp::socket socket) {
  boost::system::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);  // one SSE chunk per token: never wait for Nagle
  auto connection = std::make_shared<Connection>(std::move(socket));
  asio::co_spawn(
      state->context.executor,
      [state, connection]() -> asio::awaitable<void> { co_await serve_connection(state->context, connection); },
      asio::detached);
}

}  // namespace

Gateway::Gateway(asio::any_io_executor executor, Registry& registry, GatewayOptions options)
    : state_(std::make_shared<State>(std::move(executor), registry, std::move(options))) {}

Gateway::~Gateway() = default;

asio::awaitable<void> Gateway::start() {
  auto& context = state_->context;
  if (state_->started) throw Error(errc::invalid_argument, "Gateway::start() called twice");
  state_->started = true;
  open_acceptor(state_->acceptor, resolve_listen_endpoint(context.executor, context.options), context.options);
  state_->accept_loop_done.emplace(context.executor);
  co_await context.pool.start();
  asio::co_spawn(context.executor, accept_loop(state_), asio::detached);
}

uint16_t Gateway::port() const noexcept {
  boost::system::error_code ec;
  const auto endpoint = state_->acceptor.local_endpoint(ec);
  return ec ? 0 : endpoint.port();
}

asio::awaitable<void> Gateway::shutdown() {
  auto state = state_;
  auto& context = state->context;
  if (context.stopping) {
    co_await context.all_closed.wait();
    co_return;
  }
  context.stopping = true;
  boost::system::error_code ignored;
  state->acceptor.close(ignored);
  if (state->accept_loop_done) co_await state->accept_loop_done->wait();
  // Idle keep-alive connections go at once; the others finish their request first.
  for (auto* connection : context.connections) {
    if (!connection->answering) connection->socket.close(ignored);
  }
  if (context.answering == 0) context.drained.set();
  if (context.connections.empty()) context.all_closed.set();

  asio::steady_timer timer(context.executor);
  timer.expires_after(context.options.drain);
  co_await (context.drained.wait() || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  if (context.answering > 0) {
    context.log(fmt::format("drain time over: cancelling {} running request(s)", context.answering));
    context.cancelling = true;
    // Closing the socket is what a vanished client does: the request's watcher cancels it.
    for (auto* connection : context.connections) connection->socket.close(ignored);
  }
  timer.expires_after(kUnwindGrace);
  co_await (context.all_closed.wait() || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  co_await context.pool.close_all();
}

}  // namespace inference::gateway
