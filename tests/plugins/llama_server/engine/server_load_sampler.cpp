#include "server_load_sampler.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <charconv>
#include <stdexcept>
#include <string>

#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/server_slots.hpp"
#include "llama_cpp_fixture.hpp"

namespace inference::llama_cpp::test {

namespace asio = boost::asio;
using llama_server::HttpConnection;
using llama_server::HttpMethod;

namespace {

constexpr std::string_view kDeferredGauge = "llamacpp:requests_deferred";

int processing_slots(std::string_view slots_body) {
  int busy = 0;
  for (const auto& slot : llama_server::parse_server_slots(slots_body)) {
    if (slot.is_processing) ++busy;
  }
  return busy;
}

}  // namespace

double metric_value(std::string_view metrics_body, std::string_view name) {
  std::size_t line_start = 0;
  while (line_start < metrics_body.size()) {
    std::size_t line_end = metrics_body.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = metrics_body.size();
    const std::string_view line = metrics_body.substr(line_start, line_end - line_start);
    if (line.size() > name.size() && line.starts_with(name) && line[name.size()] == ' ') {
      // std::from_chars for double is in libstdc++ 11+; the value is a plain decimal.
      double value = -1;
      const std::string_view number = line.substr(name.size() + 1);
      const auto parsed = std::from_chars(number.data(), number.data() + number.size(), value);
      return parsed.ec == std::errc() ? value : -1;
    }
    line_start = line_end + 1;
  }
  return -1;
}

std::shared_ptr<ServerLoadSampler> ServerLoadSampler::start(const asio::any_io_executor& executor,
                                                            llama_server::ServerEndpoint endpoint) {
  auto sampler = std::make_shared<ServerLoadSampler>();
  asio::co_spawn(
      executor, [sampler, endpoint]() -> asio::awaitable<void> { co_await sampler->run(endpoint); }, asio::detached);
  return sampler;
}

void ServerLoadSampler::raise_to(std::atomic<int>& maximum, int value) {
  int seen = maximum.load();
  while (value > seen && !maximum.compare_exchange_weak(seen, value)) {
  }
}

asio::awaitable<void> ServerLoadSampler::run(llama_server::ServerEndpoint endpoint) {
  try {
    HttpConnection connection(co_await asio::this_coro::executor, endpoint);
    while (!stop_.load() && samples_.load() < kMaxLoadSamples) {
      const auto slots = co_await connection.request(HttpMethod::get, "/slots");
      const auto metrics = co_await connection.request(HttpMethod::get, "/metrics");
      const double deferred = metric_value(metrics.body, kDeferredGauge);
      if (deferred < 0) {
        throw std::runtime_error("GET /metrics has no " + std::string(kDeferredGauge) + " (was --metrics dropped?)");
      }
      raise_to(max_processing_, processing_slots(slots.body));
      raise_to(max_deferred_, static_cast<int>(deferred));
      samples_.fetch_add(1);
    }
  } catch (const std::exception& e) {
    ADD_FAILURE() << "sampling " << endpoint.describe() << " failed: " << e.what();
  }
  done_.store(true);
}

asio::awaitable<void> ServerLoadSampler::stop() {
  stop_.store(true);
  const bool finished = co_await wait_until([this] { return done_.load(); });
  EXPECT_TRUE(finished) << "the server load sampler did not stop";
}

}  // namespace inference::llama_cpp::test
