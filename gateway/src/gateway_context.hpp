// What every connection and request of one Gateway shares: its options, model pool, metrics, and
// the bookkeeping shutdown needs (open connections, running requests). Internal to the gateway.
//
// Threading: lives on the gateway's single executor; nothing here is locked.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "inference/gateway/gateway.hpp"
#include "inference/gateway/gateway_metrics.hpp"
#include "inference/gateway/model_pool.hpp"

namespace inference::gateway {

// One accepted client connection. Shutdown closes the connections that are not answering a
// request at once and lets the others finish (for the drain time).
struct Connection {
  explicit Connection(boost::asio::ip::tcp::socket s) : socket(std::move(s)), timer(socket.get_executor()) {}
  boost::asio::ip::tcp::socket socket;
  boost::asio::steady_timer timer;            // the idle / request-read timeout: closes the socket
  bool answering = false;                     // a request is being answered (counts towards the drain)
  std::list<Connection*>::iterator position;  // in GatewayContext::connections
};

// A one-shot signal on one executor: wait() returns once set() was called (at once if already).
class Signal {
 public:
  explicit Signal(const boost::asio::any_io_executor& executor);
  void set();
  bool is_set() const noexcept { return set_; }
  boost::asio::awaitable<void> wait();

 private:
  boost::asio::steady_timer timer_;
  bool set_ = false;
};

struct GatewayContext {
  GatewayContext(boost::asio::any_io_executor executor, Registry& registry, GatewayOptions options);

  boost::asio::any_io_executor executor;
  GatewayOptions options;
  ModelPool pool;
  GatewayMetrics metrics;
  std::string id_prefix;  // random per gateway, so response ids do not repeat across restarts
  uint64_t next_id = 0;

  std::list<Connection*> connections;  // open ones; each removes itself when it closes
  uint32_t answering = 0;              // requests being answered
  bool stopping = false;
  bool cancelling = false;  // the drain time is over: running requests are cancelled
  Signal drained;           // set when stopping and answering == 0
  Signal all_closed;        // set when stopping and no connection is left

  void log(std::string_view line) const;
  std::string next_response_id(std::string_view prefix);
  // Bookkeeping hooks for connections and requests (they set the signals during shutdown).
  void connection_opened(Connection& connection);
  void connection_closed(Connection& connection);
  void request_started(Connection& connection);
  void request_finished(Connection& connection);
};

}  // namespace inference::gateway
