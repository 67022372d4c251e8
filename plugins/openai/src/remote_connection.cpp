#include "inference/openai/remote_connection.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <sys/socket.h>

#include <array>
#include <boost/asio/cancellation_state.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cerrno>
#include <optional>

#include "inference/error.hpp"
#include "inference/openai/remote_error.hpp"

namespace inference::openai {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;
using TlsStream = ssl::stream<beast::tcp_stream>;

// Body bytes handed out per read_stream(); one OpenAI token event is ~300 bytes.
constexpr std::size_t kStreamChunkBytes = 16 * 1024;
// Socket read size; a burst of token events fits in one read.
constexpr std::size_t kReadBufferBytes = 16 * 1024;
constexpr unsigned kHttpVersion = 11;
constexpr std::string_view kUserAgent = "inference-openai-backend";

// The step a failure happened in: it decides the message and whether a retry may help.
enum class Stage { resolving, connecting, handshaking, requesting, streaming };

bool is_success(unsigned status) { return status >= 200 && status < 300; }

// Errors that mean the peer closed or reset the connection (a TLS peer that closes without
// close_notify gives stream_truncated).
bool is_disconnect(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe ||
         ec == asio::error::connection_aborted || ec == ssl::error::stream_truncated;
}

bool is_http_error(const error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_version).category();
}

// A cancellation that arrived after the I/O completed is recorded only in the coroutine's
// cancellation state; it counts as a cancellation of the operation (see HttpConnection's
// LateCancellation in the llama-server engine for the full story).
error_code after(const asio::cancellation_state& state, const error_code& ec) {
  return state.cancelled() != asio::cancellation_type::none ? error_code(asio::error::operation_aborted) : ec;
}

std::string ms_text(std::chrono::milliseconds duration) { return std::to_string(duration.count()); }

// What the TLS handshake's failure means, in words a user can act on.
std::string tls_failure(const TlsStream& stream, const error_code& ec) {
  const long result = ::SSL_get_verify_result(const_cast<TlsStream&>(stream).native_handle());
  if (result != X509_V_OK) {
    return std::string("the server's certificate was refused: ") + ::X509_verify_cert_error_string(result) +
           " (a certificate signed by a private CA, or self-signed, needs the ca_file option)";
  }
  return ec.message();
}

}  // namespace

struct RemoteConnection::Impl {
  Impl(asio::any_io_executor executor_in, std::shared_ptr<const RemoteEndpoint> endpoint_in)
      : executor(std::move(executor_in)),
        endpoint(std::move(endpoint_in)),
        buffer(RemoteEndpoint::kMaxHeaderBytes + kReadBufferBytes) {}

  beast::tcp_stream& lowest() { return tls ? tls->next_layer() : *tcp; }

  bool is_open() const {
    if (tls) return tls->next_layer().socket().is_open();
    return tcp && tcp->socket().is_open();
  }

  // Runs one Beast operation on whichever stream is in use.
  template <class Operation>
  auto on_stream(Operation operation) {
    return tls ? operation(*tls) : operation(*tcp);
  }

  void close() noexcept {
    if (!tls && !tcp) return;
    error_code ignored;
    lowest().socket().close(ignored);
  }

  asio::awaitable<void> connect(const asio::cancellation_state& cancel);
  asio::awaitable<asio::ip::tcp::resolver::results_type> resolve(const asio::cancellation_state& cancel);
  void name_the_peer();
  [[noreturn]] void fail(const error_code& ec, Stage stage);
  http::request<http::string_body> make_request(std::string_view target, std::string_view body) const;
  asio::awaitable<void> throw_refusal(unsigned status);

  void finish_response(bool keep_alive) {
    ++responses_on_socket;
    lowest().expires_never();
    if (!keep_alive) close();
  }

  asio::any_io_executor executor;
  std::shared_ptr<const RemoteEndpoint> endpoint;
  std::optional<TlsStream> tls;
  std::optional<beast::tcp_stream> tcp;
  beast::flat_buffer buffer;
  std::optional<http::response_parser<http::buffer_body>> parser;
  std::array<char, kStreamChunkBytes> chunk{};
  std::string context;  // "https://host:443 POST /v1/completions", for errors
  std::uint64_t connects = 0;
  std::uint64_t responses_on_socket = 0;
};

void RemoteConnection::Impl::fail(const error_code& ec, Stage stage) {
  const bool in_connect = stage == Stage::connecting || stage == Stage::handshaking;
  close();
  if (ec == asio::error::operation_aborted) throw Error(errc::cancelled, context);
  if (ec == beast::error::timeout) {
    if (in_connect) {
      throw transport_error(context + ": no connection within connect_timeout_ms=" + ms_text(endpoint->connect_timeout),
                            true);
    }
    throw transport_error(context + ": nothing received within read_timeout_ms=" + ms_text(endpoint->read_timeout) +
                              (stage == Stage::streaming ? " (the stream stalled)" : " (the server sent no answer)"),
                          false);
  }
  if (stage == Stage::resolving) throw transport_error(context + ": cannot resolve the host: " + ec.message(), true);
  if (stage == Stage::handshaking)
    throw transport_error(context + ": TLS handshake failed: " + tls_failure(*tls, ec), false);
  if (is_disconnect(ec)) {
    throw transport_error(context + (stage == Stage::streaming ? ": the connection was lost in the middle of the stream"
                                                               : ": the server closed the connection before answering"),
                          true);
  }
  if (ec == http::error::buffer_overflow || ec == http::error::header_limit) {
    throw Error(errc::protocol_error, context + ": a response line or the header block is longer than " +
                                          std::to_string(RemoteEndpoint::kMaxHeaderBytes) + " bytes");
  }
  if (is_http_error(ec)) throw Error(errc::protocol_error, context + ": malformed HTTP response: " + ec.message());
  throw transport_error(context + (in_connect ? ": cannot connect: " : ": ") + ec.message(), true);
}

asio::awaitable<asio::ip::tcp::resolver::results_type> RemoteConnection::Impl::resolve(
    const asio::cancellation_state& cancel) {
  const RemoteUrl& url = endpoint->url;
  const std::string port = std::to_string(url.port);
  error_code ec;
  const asio::ip::address address = asio::ip::make_address(url.host, ec);
  if (!ec)
    co_return asio::ip::tcp::resolver::results_type::create(asio::ip::tcp::endpoint(address, url.port), url.host, port);
  asio::ip::tcp::resolver resolver(executor);
  auto results = co_await resolver.async_resolve(url.host, port, asio::redirect_error(asio::use_awaitable, ec));
  ec = after(cancel, ec);
  if (ec) fail(ec, Stage::resolving);
  co_return results;
}

// SNI and the certificate's name check (OpenSSL's own: a mismatch is reported as such).
void RemoteConnection::Impl::name_the_peer() {
  const std::string& host = endpoint->url.host;
  SSL* handle = tls->native_handle();
  error_code ec;
  asio::ip::make_address(host, ec);
  if (ec) {
    ::SSL_ctrl(handle, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host.c_str()));
    ::SSL_set1_host(handle, host.c_str());
  } else {
    ::X509_VERIFY_PARAM_set1_ip_asc(::SSL_get0_param(handle), host.c_str());
  }
}

asio::awaitable<void> RemoteConnection::Impl::connect(const asio::cancellation_state& cancel) {
  close();
  tls.reset();
  tcp.reset();
  parser.reset();
  buffer.consume(buffer.size());
  responses_on_socket = 0;
  const auto results = co_await resolve(cancel);
  if (endpoint->url.tls) {
    tls.emplace(executor, *endpoint->tls);
  } else {
    tcp.emplace(executor);
  }
  error_code ec;
  lowest().expires_after(endpoint->connect_timeout);
  co_await lowest().async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
  ec = after(cancel, ec);
  if (ec) fail(ec, Stage::connecting);
  lowest().socket().set_option(asio::ip::tcp::no_delay(true), ec);  // best effort: requests are one write
  ++connects;
  if (tls) {
    name_the_peer();
    lowest().expires_after(endpoint->connect_timeout);
    co_await tls->async_handshake(ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    ec = after(cancel, ec);
    if (ec) fail(ec, Stage::handshaking);
  }
  lowest().expires_never();
}

http::request<http::string_body> RemoteConnection::Impl::make_request(std::string_view target,
                                                                      std::string_view body) const {
  http::request<http::string_body> request{http::verb::post, target, kHttpVersion};
  request.set(http::field::host, endpoint->url.host_header());
  request.set(http::field::user_agent, kUserAgent);
  request.set(http::field::accept, "text/event-stream");
  request.set(http::field::content_type, "application/json");
  if (!endpoint->authorization.empty()) request.set(http::field::authorization, endpoint->authorization);
  request.body().assign(body.data(), body.size());
  request.prepare_payload();
  return request;
}

// A refusal's body is read (bounded) for the server's message, then thrown.
asio::awaitable<void> RemoteConnection::Impl::throw_refusal(unsigned status) {
  const auto header = parser->get()[http::field::retry_after];
  const auto retry_after =
      parse_retry_after(std::string_view(header.data(), header.size()), std::chrono::system_clock::now());
  const asio::cancellation_state cancel = co_await asio::this_coro::cancellation_state;
  std::string body;
  while (!parser->is_done() && body.size() < RemoteEndpoint::kMaxErrorBodyBytes) {
    parser->get().body().data = chunk.data();
    parser->get().body().size = chunk.size();
    error_code ec;
    lowest().expires_after(endpoint->read_timeout);
    co_await on_stream([&](auto& stream) {
      return http::async_read_some(stream, buffer, *parser, asio::redirect_error(asio::use_awaitable, ec));
    });
    if (ec == http::error::need_buffer) ec = {};
    ec = after(cancel, ec);
    if (ec) break;  // the status says enough; the body was only for its message
    body.append(chunk.data(), chunk.size() - parser->get().body().size);
  }
  close();  // whatever is left of the body is not worth reading
  throw remote_error_from_response(status, body, retry_after, context);
}

RemoteConnection::RemoteConnection(asio::any_io_executor executor, std::shared_ptr<const RemoteEndpoint> endpoint)
    : impl_(std::make_unique<Impl>(std::move(executor), std::move(endpoint))) {}

RemoteConnection::~RemoteConnection() = default;

bool RemoteConnection::is_open() const noexcept { return impl_->is_open(); }
std::uint64_t RemoteConnection::connect_count() const noexcept { return impl_->connects; }
void RemoteConnection::close() noexcept { impl_->close(); }

bool RemoteConnection::idle_and_open() const noexcept {
  if (!impl_->is_open() || impl_->buffer.size() > 0) return false;
  char byte = 0;
  const int fd = impl_->tls ? impl_->tls->next_layer().socket().native_handle() : impl_->tcp->socket().native_handle();
  const ssize_t peeked = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

bool RemoteConnection::reusable() const noexcept {
  return impl_->parser && impl_->parser->is_done() && impl_->is_open();
}

asio::awaitable<void> RemoteConnection::start_stream(std::string_view target, std::string_view body) {
  Impl& self = *impl_;
  const asio::cancellation_state cancel = co_await asio::this_coro::cancellation_state;
  self.context = self.endpoint->url.origin() + " POST " + std::string(target);
  if (self.parser && !self.parser->is_done()) self.close();  // abandon an unfinished response
  const http::request<http::string_body> request = self.make_request(target, body);
  for (bool retried = false;; retried = true) {
    if (!self.is_open()) co_await self.connect(cancel);
    const bool reused = self.responses_on_socket > 0;
    auto& parser = self.parser.emplace();
    parser.body_limit(boost::none);  // the SSE parser bounds each event instead
    parser.header_limit(static_cast<std::uint32_t>(RemoteEndpoint::kMaxHeaderBytes));
    error_code ec;
    self.lowest().expires_after(self.endpoint->read_timeout);
    co_await self.on_stream([&](auto& stream) {
      return http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
    });
    ec = after(cancel, ec);
    if (!ec) {
      self.lowest().expires_after(self.endpoint->read_timeout);
      co_await self.on_stream([&](auto& stream) {
        return http::async_read_header(stream, self.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      });
      ec = after(cancel, ec);
    }
    if (!ec) break;
    // A kept-alive connection the server has since closed: it never saw this request.
    if (reused && !retried && is_disconnect(ec) && !parser.got_some()) {
      self.close();
      continue;
    }
    self.fail(ec, Stage::requesting);
  }
  const unsigned status = self.parser->get().result_int();
  if (!is_success(status)) co_await self.throw_refusal(status);
  if (self.parser->is_done()) self.finish_response(self.parser->keep_alive());
}

asio::awaitable<std::string_view> RemoteConnection::read_stream() {
  Impl& self = *impl_;
  const asio::cancellation_state cancel = co_await asio::this_coro::cancellation_state;
  if (!self.parser || self.parser->is_done()) co_return std::string_view{};
  if (!self.is_open()) {
    throw transport_error(self.context + ": the connection was closed before the stream ended", true);
  }
  auto& parser = *self.parser;
  while (!parser.is_done()) {
    parser.get().body().data = self.chunk.data();
    parser.get().body().size = self.chunk.size();
    parser.get().body().more = true;
    error_code ec;
    self.lowest().expires_after(self.endpoint->read_timeout);
    co_await self.on_stream([&](auto& stream) {
      return http::async_read_some(stream, self.buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    });
    if (ec == http::error::need_buffer) ec = {};  // the chunk buffer is full: hand it out
    ec = after(cancel, ec);
    if (ec) self.fail(ec, Stage::streaming);
    const std::size_t produced = self.chunk.size() - parser.get().body().size;
    if (parser.is_done()) self.finish_response(parser.keep_alive());
    if (produced > 0) co_return std::string_view(self.chunk.data(), produced);
  }
  co_return std::string_view{};
}

}  // namespace inference::openai
