#include "replica_test_support.hpp"

#include <gtest/gtest.h>

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
  try {
    for (;;) {
      std::optional<Token> token = co_await stream.next();
      if (!token) break;
      outcome.tokens.push_back(std::move(*token));
    }
  } catch (const Error& e) {
    outcome.error = e;
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
