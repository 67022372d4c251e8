// ReplayServer: a test HTTP server that answers every connection with scripted bytes (a
// response captured from the real llama-server, possibly mutated), so the client code can be
// driven through exact byte streams: any write boundaries, one byte per write, or a connection
// closed at a chosen byte. It listens on a UNIX socket in a fresh 0700 temporary directory.
//
// Write boundaries are real: before each write after the first, the server waits until the
// client has read everything written so far (the socket's unread byte count, SIOCOUTQ, is 0),
// so each write reaches the client's parser as a read of its own. The wait yields to the
// io_context (no timers, no sleeps); it ends when the client reads or closes the connection.
//
// Ownership: owns the listening socket, the temporary directory and the connections, which run
// as coroutines on the given executor; they hold the shared state, so they may outlive the
// server object, which closes everything on destruction.
// Thread-safety: none; use from the executor's thread (the tests run one io_context thread).
// Cancellation: not applicable; the destructor (or stop()) closes every socket.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "inference/llama_server/server_endpoint.hpp"

namespace inference::llama_server::test {

// What the server writes on one connection, after it has read the request.
struct ReplayResponse {
  ReplayResponse() = default;  // user-declared: g++ 12 and prvalue aggregates (docs/architecture.md)
  explicit ReplayResponse(std::string response_bytes) : bytes(std::move(response_bytes)) {}

  std::string bytes;                    // exactly what is written: status line, headers, body
  std::vector<std::size_t> split_at;    // offsets where one write ends and the next begins
  std::size_t max_write = 0;            // 0: no limit; 1: one byte per write
  std::optional<std::size_t> close_at;  // close the connection after this many bytes
};

class ReplayServer {
 public:
  // Requests are small JSON bodies; this bounds a confused client.
  static constexpr std::size_t kMaxRequestBytes = 1024 * 1024;

  explicit ReplayServer(boost::asio::any_io_executor executor);
  ~ReplayServer();
  ReplayServer(const ReplayServer&) = delete;
  ReplayServer& operator=(const ReplayServer&) = delete;

  // The endpoint to connect to (the API key is sent by clients and ignored here).
  const ServerEndpoint& endpoint() const;

  // The response for connections accepted from now on.
  void respond_with(ReplayResponse response);

  std::size_t connections() const;
  // The last request received (header block and body), as sent on the socket.
  std::string last_request() const;
  // Bytes of the last connection's response that the kernel accepted before the connection
  // ended (the client's closing makes further writes fail).
  std::size_t last_bytes_written() const;

  // Closes the listener and every connection. Idempotent.
  void stop();

  // Shared with the connection coroutines (defined in replay_server.cpp only).
  struct State;

 private:
  std::shared_ptr<State> state_;
};

// Re-frames an HTTP/1.1 response: `head` is the captured status line and headers (ending in the
// blank line, with Transfer-Encoding: chunked) and `body` the decoded body; each piece of body
// between two chunk_ends offsets (and the end) becomes one chunk, then the terminating chunk.
std::string frame_chunked(const std::string& head, const std::string& body, const std::vector<std::size_t>& chunk_ends);

}  // namespace inference::llama_server::test
