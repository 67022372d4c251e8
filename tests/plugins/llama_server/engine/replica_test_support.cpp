#include "replica_test_support.hpp"

#include <gtest/gtest.h>

#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "inference/llama_server/engine_option_keys.hpp"
#include "stream_helpers.hpp"
#include "support/greedy_config.hpp"

namespace inference::llama_cpp::test {

namespace asio = boost::asio;
namespace engine_option = llama_server::engine_option;

LoadOptions two_replica_options(uint32_t context) {
  LoadOptions options = tiny_options(kSlotsPerReplica, context);
  options.backend_options[std::string(engine_option::kReplicas.name)] = std::to_string(kTwoReplicas);
  options.backend_options[std::string(engine_option::kIgnoreEos.name)] = "1";
  return options;
}

asio::awaitable<StreamOutcome> finish(TokenStream& stream) {
  StreamOutcome outcome;
  const auto deadline = std::chrono::steady_clock::now() + kStreamDeadline;
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    // Each read raced with the deadline (see TokenStream: a parallel group, not operator||);
    // the timer winning cancels the read, which cancels the stream.
    timer.expires_at(deadline);
    auto [order, failure, token, timer_error] =
        co_await asio::experimental::make_parallel_group(stream.next(asio::deferred), timer.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    if (order[0] == 1 && !timer_error) {
      ADD_FAILURE() << "a stream did not end within " << kStreamDeadline.count() << " s";
      outcome.error = Error(errc::deadline_exceeded, "the test's stream deadline passed");
      break;
    }
    if (failure) {
      try {
        std::rethrow_exception(failure);
      } catch (const Error& e) {
        outcome.error = e;
      }
      break;
    }
    if (!token) break;
    outcome.tokens.push_back(std::move(*token));
  }
  outcome.result = stream.result();
  co_return outcome;
}

asio::awaitable<std::vector<TokenStream>> start_holding_streams(TextModel& model, int count, const std::string& label) {
  std::vector<TokenStream> streams;
  for (int i = 0; i < count; ++i) {
    streams.push_back(model.generate(label + " " + std::to_string(i), inference::test::greedy(kHoldingTokens)));
  }
  for (auto& stream : streams) {
    std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first.has_value()) << label << ": a stream ended before its first token";
  }
  co_return streams;
}

int replicas_out_of_service(const TextModel& model) {
  int out = 0;
  for (const auto& replica : model.stats().replicas) {
    if (replica.state != ReplicaState::serving) ++out;
  }
  return out;
}

}  // namespace inference::llama_cpp::test
