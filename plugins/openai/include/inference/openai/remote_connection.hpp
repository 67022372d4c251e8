// RemoteConnection: one keep-alive HTTP/1.1 client connection to a remote OpenAI-compatible
// server, over TCP or TLS (RemoteEndpoint::tls). It sends a streamed request and hands out the
// response body bytes as they arrive, for the SSE parser. Every request carries the
// Authorization header when a key is configured.
//
// Bounds: connecting plus the TLS handshake within connect_timeout (name resolution excepted: it
// is the system resolver's, bounded by its own timeouts; an IP address skips it); each read (the response header, then
// every body read) within read_timeout of the previous bytes; the header block and the error body of a refusal are
// bounded; the stream body is not (the SSE parser bounds each line and event instead).
//
// Ownership: owns the socket and its buffers. A view returned by read_stream() is valid until the
// next call on the connection. The endpoint (URL, TLS context, key) is shared with the model.
// Thread-safety: none. One operation at a time, from one strand.
// Cancellation: every awaitable honours Asio per-operation cancellation, except that a
// cancellation during name resolution (which Asio's resolver cannot interrupt) takes effect when
// it completes. A cancelled operation
// closes the connection (which aborts the HTTP request: the server sees the socket close) and
// throws Error(cancelled), also when the cancellation lands just after the I/O completed.
//
// Errors: a non-2xx answer throws RemoteError from its body (remote_error.hpp), with Retry-After;
// transport failures throw RemoteError(backend_unavailable) saying which step failed (resolving,
// connecting, the TLS handshake with the certificate problem, a timeout naming its option, a lost
// connection); a malformed or oversized response throws Error(protocol_error).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "inference/openai/remote_url.hpp"

namespace inference::openai {

struct RemoteEndpoint {
  // The refusal bodies worth quoting are a few hundred bytes; a proxy's HTML page is cut here.
  static constexpr std::size_t kMaxErrorBodyBytes = 64 * 1024;
  // Real servers send well under 4 KiB of headers.
  static constexpr std::size_t kMaxHeaderBytes = 64 * 1024;

  RemoteUrl url;
  std::string authorization;  // "Bearer <key>", or empty for no header; never printed
  std::chrono::milliseconds connect_timeout{0};
  std::chrono::milliseconds read_timeout{0};
  std::shared_ptr<boost::asio::ssl::context> tls;  // required when url.tls
};

class RemoteConnection {
 public:
  RemoteConnection(boost::asio::any_io_executor executor, std::shared_ptr<const RemoteEndpoint> endpoint);
  ~RemoteConnection();
  RemoteConnection(const RemoteConnection&) = delete;
  RemoteConnection& operator=(const RemoteConnection&) = delete;

  // POSTs `body` (JSON) to `target` and reads the response header; connects first when the
  // connection is not open. On 2xx the body follows through read_stream(). A kept-alive
  // connection that the server closed meanwhile is reopened and the request sent once more
  // (the server never saw it).
  boost::asio::awaitable<void> start_stream(std::string_view target, std::string_view body);

  // The next body bytes, as soon as any arrive; an empty view once the body is complete.
  boost::asio::awaitable<std::string_view> read_stream();

  // True when the last response was read to its end and the server keeps the connection open:
  // it may carry the next request.
  bool reusable() const noexcept;

  // For an idle kept-alive connection: true while the peer has neither closed it nor sent anything
  // (an idle HTTP/1.1 connection receives nothing; bytes there, a TLS close_notify included, mean
  // it is going away). Looks without waiting (a non-blocking peek). llama-server, for one, closes
  // the connection after every streamed response although it advertises keep-alive.
  bool idle_and_open() const noexcept;

  // Closes the socket (no TLS close_notify: the connection is being abandoned). Idempotent.
  void close() noexcept;
  bool is_open() const noexcept;
  // How many times a socket was opened; for tests of keep-alive.
  std::uint64_t connect_count() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace inference::openai
