// ConnectionPool: the idle keep-alive connections of one openai model, so consecutive requests
// skip the TCP and TLS handshakes. A request takes a connection (an idle one, else a new one that
// connects on first use) and gives it back when its response was read to the end; a connection
// that failed, was cancelled or that the server closes is dropped instead. At most max_idle are
// kept (the model's max_in_flight: more could never be in use at once).
//
// Ownership: owns the idle connections; a taken connection belongs to the taker.
// Thread-safety: every member function is thread-safe (one mutex). An idle connection has no
// operation in flight, so it may be destroyed on any thread.
// Cancellation: nothing here waits.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "inference/openai/remote_connection.hpp"

namespace inference::openai {

class ConnectionPool {
 public:
  ConnectionPool(boost::asio::any_io_executor executor, std::shared_ptr<const RemoteEndpoint> endpoint,
                 std::size_t max_idle);

  // The most recently returned idle connection that is still open (idle_and_open()), or a new one.
  std::unique_ptr<RemoteConnection> take();
  // Keeps `connection` for the next request when it is reusable() and there is room.
  void give_back(std::unique_ptr<RemoteConnection> connection);
  // Drops every idle connection and keeps none from now on (the model is closing, or its
  // io_context is being destroyed). Idempotent.
  void close();

  std::size_t idle() const;
  std::uint64_t created() const;  // connections made so far, for tests of reuse

 private:
  boost::asio::any_io_executor executor_;
  std::shared_ptr<const RemoteEndpoint> endpoint_;
  std::size_t max_idle_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<RemoteConnection>> idle_;
  std::uint64_t created_ = 0;
  bool closed_ = false;
};

}  // namespace inference::openai
