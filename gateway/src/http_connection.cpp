#include "http_connection.hpp"

#include <fmt/core.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <optional>

#include "http_reply.hpp"
#include "inference/gateway/api_error.hpp"
#include "request_router.hpp"

namespace inference::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// Read ahead of the parser beyond one request (pipelining) is bounded too.
constexpr std::size_t kReadAheadBytes = 64u << 10;

// The answer to a request that could not be read, or nullopt when there is nobody to answer
// (the client closed, the timeout or shutdown closed the socket).
std::optional<ApiError> read_failure(const boost::system::error_code& ec, const RequestLimits& limits) {
  if (ec == http::error::body_limit) {
    return ApiError(413, "invalid_request_error", "body_too_large",
                    fmt::format("request body larger than the limit of {} bytes", limits.max_body_bytes));
  }
  if (ec == http::error::header_limit) {
    return ApiError(431, "invalid_request_error", "headers_too_large",
                    fmt::format("request header larger than the limit of {} bytes", limits.max_header_bytes));
  }
  const bool http_error = ec.category() == make_error_code(http::error::bad_target).category();
  if (http_error && ec != http::error::end_of_stream && ec != http::error::partial_message) {
    return ApiError(400, "invalid_request_error", "bad_request", "malformed HTTP request: " + ec.message());
  }
  return std::nullopt;
}

// The request-read timeout: closing the socket ends the pending read.
void arm_timeout(const std::shared_ptr<Connection>& connection, std::chrono::seconds timeout) {
  connection->timer.expires_after(timeout);
  connection->timer.async_wait([weak = std::weak_ptr<Connection>(connection)](boost::system::error_code ec) {
    if (ec) return;
    if (auto alive = weak.lock()) {
      boost::system::error_code ignored;
      alive->socket.close(ignored);
    }
  });
}

asio::awaitable<void> answer_unreadable(GatewayContext& context, Connection& connection, const ApiError& error) {
  HttpRequest request;  // the request could not be parsed: answer as HTTP/1.1, then close
  request.keep_alive(false);
  context.metrics.record_http_response(error.status());
  context.log(fmt::format("refused an unreadable request: {} {}", error.status(), error.what()));
  try {
    co_await write_response(connection.socket, error_response(request, context.options, error));
  } catch (const boost::system::system_error&) {
  }
}

asio::awaitable<void> serve_requests(GatewayContext& context, const std::shared_ptr<Connection>& connection) {
  const auto& limits = context.options.limits;
  beast::flat_buffer buffer(limits.max_header_bytes + limits.max_body_bytes + kReadAheadBytes);
  while (!context.stopping) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);
    arm_timeout(connection, context.options.idle_timeout);
    auto [ec, n] = co_await http::async_read(connection->socket, buffer, parser, asio::as_tuple(asio::use_awaitable));
    (void)n;
    connection->timer.cancel();
    if (ec) {
      if (const auto failure = read_failure(ec, limits)) co_await answer_unreadable(context, *connection, *failure);
      co_return;
    }
    context.request_started(*connection);
    bool keep_alive = false;
    try {
      keep_alive = co_await route_request(context, *connection, buffer, parser.get());
    } catch (const boost::system::system_error&) {
      keep_alive = false;  // the answer could not be written
    }
    context.request_finished(*connection);
    if (!keep_alive) co_return;
  }
}

}  // namespace

asio::awaitable<void> serve_connection(GatewayContext& context, std::shared_ptr<Connection> connection) {
  context.connection_opened(*connection);
  try {
    co_await serve_requests(context, connection);
  } catch (const std::exception& e) {
    context.log(fmt::format("connection ended by an unexpected error: {}", e.what()));
  }
  boost::system::error_code ignored;
  connection->timer.cancel();
  connection->socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  connection->socket.close(ignored);
  context.connection_closed(*connection);
}

asio::awaitable<void> refuse_connection(asio::ip::tcp::socket socket) {
  const auto body = error_body(ApiError(503, "server_error", "too_many_connections", "too many open connections"));
  const auto answer = fmt::format(
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
      "Connection: close\r\nContent-Length: {}\r\n\r\n{}",
      body.size(), body);
  co_await asio::async_write(socket, asio::buffer(answer), asio::as_tuple(asio::use_awaitable));
  boost::system::error_code ignored;
  socket.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

}  // namespace inference::gateway
