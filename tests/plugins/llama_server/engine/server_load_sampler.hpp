// ServerLoadSampler: how loaded one real llama-server is, as the server itself says, sampled
// back to back while a test's streams run: GET /slots (how many slots process a task) and
// GET /metrics (llamacpp:requests_deferred, the tasks the server holds back because the slot
// they were pinned to is busy). A runtime that put more requests on a server than it has slots
// shows up in the second figure: with id_slot pinned, llama-server queues the extra task
// instead of refusing it, so /slots alone could never show more busy slots than there are.
//
// Ownership: shared between the test and its sampling coroutine. Thread-safety: the figures are
// atomics, readable from any thread while sampling runs. Cancellation: stop() ends the loop
// after the sample in progress; the loop also ends by itself after kMaxLoadSamples samples or at
// the first failed request (recorded as a test failure), so it never outlives a test.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <memory>
#include <string_view>

#include "inference/llama_server/server_endpoint.hpp"

namespace inference::llama_cpp::test {

// Bounds a sampler whose test forgot to stop it: a sample takes about a millisecond, so this is
// minutes of sampling, far beyond any test's load phase.
inline constexpr int kMaxLoadSamples = 100'000;

// The value of the gauge `name` in a Prometheus text body (llama-server's GET /metrics), or -1
// when the body has no such line.
double metric_value(std::string_view metrics_body, std::string_view name);

class ServerLoadSampler {
 public:
  static std::shared_ptr<ServerLoadSampler> start(const boost::asio::any_io_executor& executor,
                                                  llama_server::ServerEndpoint endpoint);
  // Stops sampling and waits (bounded by kConditionDeadline) for the loop to end.
  boost::asio::awaitable<void> stop();

  int samples() const { return samples_.load(); }
  int max_processing() const { return max_processing_.load(); }
  int max_deferred() const { return max_deferred_.load(); }

 private:
  boost::asio::awaitable<void> run(llama_server::ServerEndpoint endpoint);
  static void raise_to(std::atomic<int>& maximum, int value);

  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::atomic<int> samples_{0};
  std::atomic<int> max_processing_{0};
  std::atomic<int> max_deferred_{0};
};

}  // namespace inference::llama_cpp::test
