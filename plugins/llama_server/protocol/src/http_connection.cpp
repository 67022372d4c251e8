#include "inference/llama_server/http_connection.hpp"

#include <array>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <optional>

#include "inference/llama_server/server_error.hpp"

namespace inference::llama_server {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using boost::system::error_code;
using Socket = asio::generic::stream_protocol::socket;

// Body bytes handed out per read_stream(); one token chunk is ~150 bytes, so reads rarely fill it.
constexpr std::size_t kStreamChunkBytes = 16 * 1024;
// Socket read size; a whole final chunk (~2 KiB) or a burst of token chunks fits in one read.
constexpr std::size_t kReadBufferBytes = 16 * 1024;
constexpr unsigned kHttpVersion = 11;
constexpr std::string_view kUserAgent = "inference-llama-server-client";

http::verb to_verb(HttpMethod method) { return method == HttpMethod::get ? http::verb::get : http::verb::post; }

bool is_success(unsigned status) { return status >= 200 && status < 300; }

// Errors that mean the peer closed or reset the connection.
bool is_disconnect(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe || ec == asio::error::connection_aborted;
}

// Asio records a cancellation that arrives after an operation has already completed (its
// handler was queued when the signal fired) only in the coroutine's cancellation state, and the
// coroutine's next co_await, often the caller's, throws it as a bare
// system_error(operation_aborted). Each operation here looks at the state once its I/O has
// completed and reports such a late cancellation as operation_aborted itself, so callers always
// get Error(cancelled) and a closed connection, whichever side of the completion it landed on.
class LateCancellation {
 public:
  // state: the coroutine's (this_coro::cancellation_state); enabled: its throw_if_cancelled
  // setting (a caller that turned it off wants to keep working after a cancellation).
  LateCancellation(asio::cancellation_state state, bool enabled) : state_(std::move(state)), enabled_(enabled) {}

  // The error a completed operation stands for: operation_aborted when the coroutine was
  // cancelled meanwhile (even if the operation succeeded or failed otherwise), else its own.
  error_code after(const error_code& ec) const {
    if (enabled_ && state_.cancelled() != asio::cancellation_type::none) {
      return asio::error::operation_aborted;
    }
    return ec;
  }

 private:
  asio::cancellation_state state_;
  bool enabled_;
};

}  // namespace

struct HttpConnection::Impl {
  Impl(asio::any_io_executor executor_in, ServerEndpoint endpoint_in, HttpLimits limits_in)
      : executor(std::move(executor_in)),
        socket(executor),
        endpoint(std::move(endpoint_in)),
        limits(limits_in),
        buffer(max_buffered_bytes(limits_in)) {}

  // The read buffer holds unparsed bytes only: at most a header block, or one chunk-size line
  // (Beast sets no limit of its own on those, so without this bound a chunk extension that
  // never ends would be buffered for ever), plus one socket read.
  static std::size_t max_buffered_bytes(const HttpLimits& limits) { return limits.max_header_bytes + kReadBufferBytes; }

  std::string describe(http::verb verb, std::string_view target) const {
    std::string text = endpoint.describe();
    text += ' ';
    text += http::to_string(verb);
    text += ' ';
    text += target;
    return text;
  }

  // Throws the project error that ec stands for, after closing the socket: after a failed or
  // cancelled operation the position in the byte stream is unknown.
  [[noreturn]] void fail(const error_code& ec, const std::string& context) {
    close();
    if (ec == asio::error::operation_aborted) {
      throw Error(errc::cancelled, context);
    }
    if (is_disconnect(ec)) {
      throw Error(errc::closed, context + ": llama-server closed the connection");
    }
    if (ec == http::error::body_limit) {
      throw Error(errc::protocol_error,
                  context + ": response body exceeds " + std::to_string(limits.max_body_bytes) + " bytes");
    }
    if (ec == http::error::buffer_overflow) {
      throw Error(errc::protocol_error, context + ": a response line (status, header or chunk size) exceeds " +
                                            std::to_string(max_buffered_bytes(limits)) + " bytes");
    }
    if (ec == http::error::header_limit) {
      throw Error(errc::protocol_error,
                  context + ": response header exceeds " + std::to_string(limits.max_header_bytes) + " bytes");
    }
    if (ec.category() == http::make_error_code(http::error::bad_version).category()) {
      throw Error(errc::protocol_error, context + ": malformed HTTP response: " + ec.message());
    }
    throw Error(std::error_code(ec), context);
  }

  // Closing never destroys the parser or the buffer: an operation in flight still refers to
  // them. connect() resets both.
  void close() noexcept {
    error_code ignored;
    socket.close(ignored);
  }

  http::request<http::string_body> make_request(http::verb verb, std::string_view target, std::string_view body) const {
    http::request<http::string_body> request{verb, target, kHttpVersion};
    request.set(http::field::host, endpoint.host_header());
    request.set(http::field::user_agent, kUserAgent);
    if (!endpoint.api_key().empty()) {
      request.set(http::field::authorization, "Bearer " + endpoint.api_key());
    }
    if (verb == http::verb::post) {
      request.set(http::field::content_type, "application/json");
      request.body().assign(body.data(), body.size());
    }
    request.prepare_payload();
    return request;
  }

  // After a complete response: keep the socket for the next request unless the server said
  // Connection: close (it does on every error response).
  void finish_response(bool keep_alive) {
    ++responses_on_socket;
    if (!keep_alive) {
      close();
    }
  }

  asio::any_io_executor executor;
  Socket socket;
  ServerEndpoint endpoint;
  HttpLimits limits;
  boost::beast::flat_buffer buffer;
  std::optional<http::response_parser<http::buffer_body>> stream;
  std::array<char, kStreamChunkBytes> chunk{};
  std::string stream_context;  // "unix:/… POST /completion", for stream errors
  std::uint64_t connects = 0;
  std::uint64_t responses_on_socket = 0;
};

HttpConnection::HttpConnection(asio::any_io_executor executor, ServerEndpoint endpoint, HttpLimits limits)
    : impl_(std::make_unique<Impl>(std::move(executor), std::move(endpoint), limits)) {}

HttpConnection::~HttpConnection() = default;
HttpConnection::HttpConnection(HttpConnection&&) noexcept = default;
HttpConnection& HttpConnection::operator=(HttpConnection&&) noexcept = default;

const ServerEndpoint& HttpConnection::endpoint() const noexcept { return impl_->endpoint; }
asio::any_io_executor HttpConnection::get_executor() const noexcept { return impl_->executor; }
bool HttpConnection::is_open() const noexcept { return impl_->socket.is_open(); }
std::uint64_t HttpConnection::connect_count() const noexcept { return impl_->connects; }
void HttpConnection::close() noexcept { impl_->close(); }

bool HttpConnection::stream_active() const noexcept {
  return impl_->stream && !impl_->stream->is_done() && impl_->socket.is_open();
}

asio::awaitable<void> HttpConnection::connect() {
  Impl& self = *impl_;
  asio::cancellation_state cancellation_state = co_await asio::this_coro::cancellation_state;
  const LateCancellation late(std::move(cancellation_state), co_await asio::this_coro::throw_if_cancelled());
  self.close();
  self.stream.reset();
  self.buffer.consume(self.buffer.size());
  self.buffer.reserve(kReadBufferBytes);  // Beast reads at most the free capacity per call
  self.responses_on_socket = 0;

  asio::generic::stream_protocol::endpoint target;
  if (self.endpoint.is_unix_socket()) {
    target = asio::local::stream_protocol::endpoint(self.endpoint.socket_path().native());
  } else {
    target = asio::ip::tcp::endpoint(asio::ip::make_address_v4(ServerEndpoint::kLoopbackAddress), self.endpoint.port());
  }
  error_code ec;
  co_await self.socket.async_connect(target, asio::redirect_error(asio::use_awaitable, ec));
  ec = late.after(ec);
  if (ec) {
    self.fail(ec, "connecting to llama-server at " + self.endpoint.describe());
  }
  if (!self.endpoint.is_unix_socket()) {
    self.socket.set_option(asio::ip::tcp::no_delay(true), ec);  // best effort: requests are one write
  }
  ++self.connects;
}

asio::awaitable<HttpResponse> HttpConnection::request(HttpMethod method, std::string_view target,
                                                      std::string_view body) {
  Impl& self = *impl_;
  asio::cancellation_state cancellation_state = co_await asio::this_coro::cancellation_state;
  const LateCancellation late(std::move(cancellation_state), co_await asio::this_coro::throw_if_cancelled());
  const http::verb verb = to_verb(method);
  const std::string context = self.describe(verb, target);
  if (self.stream && !self.stream->is_done()) {
    self.close();  // abandon the unfinished stream; the server stops that task
  }
  const http::request<http::string_body> request = self.make_request(verb, target, body);

  for (bool retried = false;; retried = true) {
    if (!self.socket.is_open() || (self.stream && !self.stream->is_done())) {
      co_await connect();
    }
    self.stream.reset();
    const bool reused = self.responses_on_socket > 0;

    error_code ec;
    co_await http::async_write(self.socket, request, asio::redirect_error(asio::use_awaitable, ec));
    ec = late.after(ec);
    http::response_parser<http::string_body> parser;
    parser.body_limit(self.limits.max_body_bytes);
    parser.header_limit(static_cast<std::uint32_t>(self.limits.max_header_bytes));
    if (!ec) {
      co_await http::async_read(self.socket, self.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      ec = late.after(ec);
    }
    if (ec) {
      // An idle keep-alive connection the server has since closed: it never saw this request.
      if (reused && !retried && is_disconnect(ec) && !parser.got_some()) {
        self.close();
        continue;
      }
      self.fail(ec, context);
    }
    self.finish_response(parser.keep_alive());
    HttpResponse response{parser.get().result_int(), std::move(parser.get().body())};
    if (!is_success(response.status)) {
      throw server_error_from_response(response.status, response.body, context);
    }
    co_return response;
  }
}

asio::awaitable<void> HttpConnection::start_stream(HttpMethod method, std::string_view target, std::string_view body) {
  Impl& self = *impl_;
  asio::cancellation_state cancellation_state = co_await asio::this_coro::cancellation_state;
  const LateCancellation late(std::move(cancellation_state), co_await asio::this_coro::throw_if_cancelled());
  const http::verb verb = to_verb(method);
  self.stream_context = self.describe(verb, target);
  if (self.stream && !self.stream->is_done()) {
    self.close();
  }
  const http::request<http::string_body> request = self.make_request(verb, target, body);
  for (bool retried = false;; retried = true) {
    if (!self.socket.is_open() || (self.stream && !self.stream->is_done())) {
      co_await connect();
    }
    const bool reused = self.responses_on_socket > 0;
    auto& parser = self.stream.emplace();
    parser.body_limit(boost::none);  // the SSE parser bounds each event instead
    parser.header_limit(static_cast<std::uint32_t>(self.limits.max_header_bytes));

    error_code ec;
    co_await http::async_write(self.socket, request, asio::redirect_error(asio::use_awaitable, ec));
    ec = late.after(ec);
    if (!ec) {
      co_await http::async_read_header(self.socket, self.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      ec = late.after(ec);
    }
    if (ec) {
      if (reused && !retried && is_disconnect(ec) && !parser.got_some()) {
        self.close();
        continue;
      }
      self.fail(ec, self.stream_context);
    }
    break;
  }

  auto& parser = *self.stream;
  const unsigned status = parser.get().result_int();
  if (is_success(status)) {
    if (parser.is_done()) {
      self.finish_response(parser.keep_alive());
    }
    co_return;
  }
  co_await throw_error_answer(status);
}

asio::awaitable<void> HttpConnection::throw_error_answer(unsigned status) {
  Impl& self = *impl_;
  std::string error_body;
  for (;;) {
    const std::string_view bytes = co_await read_stream();
    if (bytes.empty()) {
      break;
    }
    if (error_body.size() + bytes.size() > self.limits.max_body_bytes) {
      self.close();
      throw Error(errc::protocol_error, self.stream_context + ": error response body exceeds " +
                                            std::to_string(self.limits.max_body_bytes) + " bytes");
    }
    error_body.append(bytes);
  }
  throw server_error_from_response(status, error_body, self.stream_context);
}

asio::awaitable<std::string_view> HttpConnection::read_stream() {
  Impl& self = *impl_;
  asio::cancellation_state cancellation_state = co_await asio::this_coro::cancellation_state;
  const LateCancellation late(std::move(cancellation_state), co_await asio::this_coro::throw_if_cancelled());
  if (!self.stream || self.stream->is_done()) {
    co_return std::string_view{};
  }
  if (!self.socket.is_open()) {
    throw Error(errc::closed, self.stream_context + ": the connection was closed before the stream ended");
  }
  auto& parser = *self.stream;
  while (!parser.is_done()) {
    parser.get().body().data = self.chunk.data();
    parser.get().body().size = self.chunk.size();
    parser.get().body().more = true;
    error_code ec;
    co_await http::async_read_some(self.socket, self.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::need_buffer) {
      ec = {};  // the chunk buffer is full: hand it out
    }
    ec = late.after(ec);
    if (ec) {
      self.fail(ec, self.stream_context);
    }
    const std::size_t produced = self.chunk.size() - parser.get().body().size;
    if (parser.is_done()) {
      // llama-server closes the connection after every streamed response although it
      // advertises keep-alive; closing first spares the next request a dead socket.
      self.finish_response(false);
    }
    if (produced > 0) {
      co_return std::string_view(self.chunk.data(), produced);
    }
  }
  co_return std::string_view{};
}

}  // namespace inference::llama_server
