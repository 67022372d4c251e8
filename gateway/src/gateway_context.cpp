#include "gateway_context.hpp"

#include <fmt/core.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <random>

namespace inference::gateway {

namespace asio = boost::asio;

Signal::Signal(const asio::any_io_executor& executor) : timer_(executor, asio::steady_timer::time_point::max()) {}

void Signal::set() {
  set_ = true;
  timer_.cancel();
}

asio::awaitable<void> Signal::wait() {
  // The timer never expires; set() cancels it, which wakes every waiter.
  while (!set_) co_await timer_.async_wait(asio::as_tuple(asio::use_awaitable));
}

namespace {

std::string random_prefix() {
  std::random_device device;
  return fmt::format("{:08x}", device());
}

}  // namespace

GatewayContext::GatewayContext(asio::any_io_executor executor_in, Registry& registry, GatewayOptions options_in)
    : executor(std::move(executor_in)),
      options(std::move(options_in)),
      pool(executor, registry, options.backend, options.load, options.models, options.pool),
      id_prefix(random_prefix()),
      drained(executor),
      all_closed(executor) {}

void GatewayContext::log(std::string_view line) const {
  if (options.log) {
    options.log(line);
  } else {
    fmt::print(stderr, "{}\n", line);
  }
}

std::string GatewayContext::next_response_id(std::string_view prefix) {
  return fmt::format("{}-{}{:x}", prefix, id_prefix, next_id++);
}

void GatewayContext::connection_opened(Connection& connection) {
  connection.position = connections.insert(connections.end(), &connection);
}

void GatewayContext::connection_closed(Connection& connection) {
  connections.erase(connection.position);
  if (stopping && connections.empty()) all_closed.set();
}

void GatewayContext::request_started(Connection& connection) {
  connection.answering = true;
  ++answering;
}

void GatewayContext::request_finished(Connection& connection) {
  connection.answering = false;
  --answering;
  if (stopping && answering == 0) drained.set();
}

}  // namespace inference::gateway
