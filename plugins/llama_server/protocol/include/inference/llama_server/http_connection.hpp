// HttpConnection: one keep-alive HTTP/1.1 client connection to a llama-server, over its UNIX
// domain socket or TCP on the loopback address. Plain requests return the whole body; a
// streaming request hands out body bytes as they arrive (for the SSE parser). Every request
// carries `Authorization: Bearer <key>`.
//
// Ownership: owns the socket and its buffers. A view returned by read_stream() points into
// the connection and is valid until the next call on it.
// Thread-safety: none. Use from one thread or strand, one operation at a time (a request, or
// the reads of one stream, must finish before the next starts).
// Cancellation: every awaitable honours Asio cancellation (a cancellation slot bound to the
// coroutine, e.g. a parallel group with a timer waited on with wait_for_one(); not the awaitable
// operator||, which holds back an error until the timer fires: see docs/architecture.md).
// A cancelled operation closes the connection and throws Error(errc::cancelled), also when the
// cancellation arrives just after its I/O completed (never a bare system_error from Asio);
// closing is also how a stream is abandoned, and llama-server then stops the task and frees
// its slot.
//
// Errors: a non-2xx answer throws ServerError (errc::child_error, with status and the server's
// message); a malformed or oversized response throws Error(protocol_error); the peer closing
// the connection throws Error(closed); connecting throws Error(<system error>, endpoint).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "inference/llama_server/server_endpoint.hpp"

namespace inference::llama_server {

enum class HttpMethod { get, post };

struct HttpResponse {
  unsigned status = 0;
  std::string body;
};

struct HttpLimits {
  // /props with a long Jinja chat template is the largest non-streamed answer (tens of KiB).
  static constexpr std::size_t kDefaultMaxBodyBytes = 8 * 1024 * 1024;
  // llama-server's headers are a few hundred bytes.
  static constexpr std::size_t kDefaultMaxHeaderBytes = 64 * 1024;

  std::size_t max_body_bytes = kDefaultMaxBodyBytes;      // whole bodies (not streams)
  std::size_t max_header_bytes = kDefaultMaxHeaderBytes;  // response header block
};

class HttpConnection {
 public:
  HttpConnection(boost::asio::any_io_executor executor, ServerEndpoint endpoint, HttpLimits limits = {});
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;
  // Moving is allowed only while no operation is in flight.
  HttpConnection(HttpConnection&&) noexcept;
  HttpConnection& operator=(HttpConnection&&) noexcept;

  const ServerEndpoint& endpoint() const noexcept;
  boost::asio::any_io_executor get_executor() const noexcept;

  // Opens the socket. Optional: request() and start_stream() connect when not connected.
  boost::asio::awaitable<void> connect();

  // Sends one request and reads the whole response. A connection the server closed while idle
  // (keep-alive timeout) is reopened and the request sent once more, which is safe because the
  // server never saw it. An unfinished stream on this connection is abandoned (closed) first.
  boost::asio::awaitable<HttpResponse> request(HttpMethod method, std::string_view target, std::string_view body = {});

  // Sends a request and reads the response header. On 2xx, the body follows through
  // read_stream(); otherwise the error body is read and thrown as ServerError.
  boost::asio::awaitable<void> start_stream(HttpMethod method, std::string_view target, std::string_view body);

  // The next body bytes of the stream, as soon as any arrive; an empty view once the body is
  // complete. The connection is then closed (llama-server closes it after every streamed
  // response); the next request reconnects.
  boost::asio::awaitable<std::string_view> read_stream();

  // True while a started stream has body left to read.
  bool stream_active() const noexcept;

  // Closes the socket now; operations in flight finish with Error(cancelled). Idempotent.
  void close() noexcept;

  bool is_open() const noexcept;
  // How many times a socket was opened (reconnects included); for tests and diagnostics.
  std::uint64_t connect_count() const noexcept;

 private:
  // start_stream()'s error answer: reads its bounded body and throws it as ServerError.
  boost::asio::awaitable<void> throw_error_answer(unsigned status);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inference::llama_server
