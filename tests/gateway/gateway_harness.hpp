// Test support for the gateway: a Gateway running on its own thread (as llmctl serve runs it),
// and a small synchronous HTTP client that speaks to it the way OpenAI clients do, including
// reading an SSE stream event by event and hanging up in the middle.
//
// Ownership: RunningGateway owns its registry, io_context and thread; its destructor shuts the
// gateway down (drain, close models) and joins. Thread-safety: the client side is used from the
// test's thread only; the gateway runs on its own.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "inference/gateway/gateway.hpp"
#include "inference/registry.hpp"

namespace inference::test {

class RunningGateway {
 public:
  // Loads the plugins of the test build (INFERENCE_TEST_PLUGIN_DIR) and starts the gateway on
  // 127.0.0.1, any free port. Throws what Gateway::start() throws.
  explicit RunningGateway(gateway::GatewayOptions options);
  RunningGateway(const RunningGateway&) = delete;
  RunningGateway& operator=(const RunningGateway&) = delete;
  ~RunningGateway();

  uint16_t port() const noexcept { return port_; }
  // Starts Gateway::shutdown() on the gateway's thread (once) and waits for it.
  void shutdown();
  // Starts Gateway::shutdown() (once) and returns at once; shutdown() or the destructor waits.
  void begin_shutdown();
  // The gateway's log lines so far.
  std::vector<std::string> log_lines() const;

 private:
  std::unique_ptr<Registry> registry_;
  boost::asio::io_context io_;
  std::unique_ptr<gateway::Gateway> gateway_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::shared_future<void> shutdown_done_;
  std::shared_ptr<struct LogLines> log_;
};

// Options for the stub backend serving model "stub" (its deterministic text, no server).
gateway::GatewayOptions stub_gateway_options();

struct HttpAnswer {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;
  boost::json::value json() const;                               // the body parsed (throws when it is not JSON)
  std::string header(const std::string& lower_case_name) const;  // "" when absent
};

// One request on a fresh connection (Connection: close).
HttpAnswer http_request(uint16_t port, const std::string& method, const std::string& target,
                        const std::string& body = {}, const std::map<std::string, std::string>& headers = {});
HttpAnswer post_json(uint16_t port, const std::string& target, const boost::json::value& body,
                     const std::map<std::string, std::string>& headers = {});
// Raw bytes in, the answer's raw bytes out (until the server closes), for malformed requests.
std::string raw_exchange(uint16_t port, const std::string& bytes);

// A streaming request (SSE) read event by event.
class SseClient {
 public:
  SseClient(uint16_t port, const std::string& target, const boost::json::value& body,
            const std::map<std::string, std::string>& headers = {});
  unsigned status() const noexcept { return status_; }
  const std::string& error_body() const noexcept { return error_body_; }  // non-200 answers
  // The next `data:` payload ("[DONE]" included), or nullopt once the response ended.
  std::optional<std::string> next_event();
  // Every remaining payload up to and including [DONE].
  std::vector<std::string> rest();
  // Hangs up: closes the connection without reading further.
  void hang_up();

 private:
  bool read_more();
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
  boost::beast::flat_buffer buffer_;
  boost::beast::http::response_parser<boost::beast::http::string_body> parser_;
  std::string pending_;  // body bytes not yet split into events
  std::size_t consumed_ = 0;
  unsigned status_ = 0;
  std::string error_body_;
  bool ended_ = false;
};

// A request sent without reading its answer: for hanging up while a non-streaming request runs.
class UnreadRequest {
 public:
  UnreadRequest(uint16_t port, const std::string& target, const boost::json::value& body);
  void hang_up();

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::socket socket_;
};

// The value of one sample line of /metrics ("name{labels} value"), or nullopt.
std::optional<double> metric_value(uint16_t port, const std::string& sample_prefix);

// Calls `check` until it returns true or `timeout` passes; returns the last result. For states
// only observable by asking again (over HTTP there is no event to wait on).
bool eventually(const std::function<bool()>& check, std::chrono::milliseconds timeout);

}  // namespace inference::test
