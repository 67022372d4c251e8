// Gateway: the OpenAI-compatible HTTP/1.1 server in front of the runtime (llmctl serve). It
// serves POST /v1/chat/completions and /v1/completions (SSE streaming or whole responses),
// GET /v1/models, /health and /metrics, for the models of a ModelPool. docs/serve.md describes
// the surface; docs/architecture.md how it is built.
//
// Threading: one executor, single-threaded (an io_context run by one thread): connections,
// streams' consumers, the pool and the metrics interleave on it without locks. The backends'
// own threads (server supervision) are theirs.
// Lifetime: the Gateway must outlive the completion of shutdown(); its destructor requires it.
// Cancellation: every request is cancelled when its client disconnects (its stream is destroyed,
// so its queued request leaves the queue or its slot is freed at once).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inference/gateway/model_catalog.hpp"
#include "inference/gateway/model_pool.hpp"
#include "inference/gateway/request_limits.hpp"
#include "inference/load_options.hpp"
#include "inference/registry.hpp"

namespace inference::gateway {

struct GatewayOptions {
  GatewayOptions() = default;  // not an aggregate: see GenerateConfig

  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0: any free port (see Gateway::port())
  std::vector<ServedModel> models;
  std::string backend;  // empty: the registry's default for `load`
  LoadOptions load;     // slots, context, queue limit, backend options
  PoolPolicy pool;
  std::string api_key;                    // empty: no authentication
  std::string cors_origin;                // empty: no CORS headers; "*" or one origin otherwise
  std::chrono::seconds drain{10};         // shutdown: how long running requests may finish
  std::chrono::seconds idle_timeout{60};  // a connection idle (or sending a request) longer is closed
  uint32_t max_connections = 4096;        // more are answered 503 and closed at once
  std::chrono::seconds retry_after{1};    // Retry-After on 429 and 503
  bool log_requests = false;              // log each request's body (prompts!); off by default
  RequestLimits limits;
  // Receives the gateway's log lines (one event each, no newline). Empty: stderr.
  std::function<void(std::string_view line)> log;
};

class Gateway {
 public:
  Gateway(boost::asio::any_io_executor executor, Registry& registry, GatewayOptions options);
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;
  ~Gateway();

  // Binds and listens (throws Error(invalid_argument) naming host:port when it cannot), starts
  // the pool (loads the models unless idle unloading is on; their failures show in /health) and
  // starts accepting connections. Returns once accepting.
  boost::asio::awaitable<void> start();

  // The port bound by start() (useful with port 0).
  uint16_t port() const noexcept;

  // Stops accepting and closes idle keep-alive connections at once; lets running requests finish
  // for options.drain, then cancels the rest; closes the models (their server processes end).
  // Idempotent; returns when every connection is closed and every model closed.
  boost::asio::awaitable<void> shutdown();

  struct State;  // opaque; shared with the gateway's running coroutines

 private:
  std::shared_ptr<State> state_;
};

}  // namespace inference::gateway
