// One model served by two real llama-server processes (replicas=2, two slots each): requests are
// spread least-loaded first and never put more on a server than it has slots (as each server
// reports through GET /slots and /metrics), stats add up per replica, and a replica that is
// killed or stopped fails only its own streams while the other keeps serving and the failed one
// is replaced. Process lifetime (close, host SIGKILL) is in llama_cpp_replica_lifetime_test.cpp,
// rolling reload in llama_cpp_reload_test.cpp.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/this_coro.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "concurrent_tasks.hpp"
#include "inference/llama_server/engine_option_keys.hpp"
#include "replica_test_support.hpp"
#include "server_load_sampler.hpp"
#include "server_start_gate.hpp"
#include "stream_helpers.hpp"
#include "support/child_processes.hpp"
#include "support/greedy_config.hpp"

namespace inference::llama_cpp::test {
namespace {

namespace asio = boost::asio;
namespace engine_option = llama_server::engine_option;
using ::inference::test::greedy;
using ::inference::test::no_child_process_left;

constexpr int kConcurrentStreams = 16;
constexpr int32_t kStreamTokens = 48;
constexpr int32_t kShortGeneration = 8;
constexpr int kQueuedBehindTheFault = 4;
// Far above a token's time on a loaded machine, small enough that a stopped server is noticed
// within a second.
constexpr std::string_view kStallTimeoutMs = "1000";

int replica_of(const StreamOutcome& outcome) { return outcome.result.metrics.replica; }

TEST(LlamaCppReplicasTest, LeastLoadedReplicaFirstPutsTwoStreamsOnDifferentServers) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(two_replica_options(kReplicaLongContext));
    EXPECT_EQ(model->replica_count(), kTwoReplicas);
    std::vector<TokenStream> streams = co_await start_holding_streams(*model, 2, "Spread");
    const ModelStats stats = model->stats();
    EXPECT_EQ(stats.replicas.at(0).slots_busy, 1U);
    EXPECT_EQ(stats.replicas.at(1).slots_busy, 1U);
    // The servers' own view agrees.
    for (uint32_t r = 0; r < kTwoReplicas; ++r) {
      const auto endpoint = model->server_endpoint(r);
      EXPECT_TRUE(endpoint.has_value());
      const int processing = endpoint ? co_await slots_processing(*endpoint) : -1;
      EXPECT_EQ(processing, 1) << "replica " << r;
    }
    for (auto& stream : streams) stream.cancel();
    std::vector<int> replicas;
    for (auto& stream : streams) {
      const StreamOutcome outcome = co_await finish(stream);
      replicas.push_back(replica_of(outcome));
    }
    EXPECT_NE(replicas.at(0), replicas.at(1));
    co_await model->close();
  });
  EXPECT_TRUE(no_child_process_left());
}

// Samples both servers while 16 streams run, then checks every figure against the streams.
asio::awaitable<void> check_sixteen_streams(LlamaServerModel& model) {
  const auto executor = co_await asio::this_coro::executor;
  std::vector<std::shared_ptr<ServerLoadSampler>> samplers;
  for (uint32_t r = 0; r < kTwoReplicas; ++r) {
    samplers.push_back(ServerLoadSampler::start(executor, model.server_endpoint(r).value()));
  }
  std::vector<StreamOutcome> outcomes(kConcurrentStreams);
  std::vector<asio::awaitable<void>> clients;
  for (int i = 0; i < kConcurrentStreams; ++i) {
    TokenStream stream = model.generate("Stream " + std::to_string(i), greedy(kStreamTokens));
    clients.push_back([](TokenStream stream, StreamOutcome& out) -> asio::awaitable<void> {
      out = co_await finish(stream);
    }(std::move(stream), outcomes[i]));
  }
  co_await run_concurrently(std::move(clients));
  for (auto& sampler : samplers) co_await sampler->stop();

  std::vector<uint64_t> per_replica(kTwoReplicas, 0);
  for (const auto& outcome : outcomes) {
    EXPECT_FALSE(outcome.error) << outcome.error->what();
    EXPECT_EQ(outcome.tokens.size(), static_cast<std::size_t>(kStreamTokens));
    const int replica = replica_of(outcome);
    EXPECT_TRUE(replica >= 0 && replica < static_cast<int>(kTwoReplicas)) << "replica " << replica;
    if (replica >= 0 && replica < static_cast<int>(kTwoReplicas)) ++per_replica[replica];
  }
  for (uint32_t r = 0; r < kTwoReplicas; ++r) {
    std::printf("[ MEASURE  ] replica %u: %llu streams, %d samples, at most %d slots processing, %d deferred\n", r,
                static_cast<unsigned long long>(per_replica[r]), samplers[r]->samples(), samplers[r]->max_processing(),
                samplers[r]->max_deferred());
    EXPECT_GT(per_replica[r], 0U) << "replica " << r << " served nothing";
    EXPECT_GT(samplers[r]->samples(), 0);
    EXPECT_LE(samplers[r]->max_processing(), static_cast<int>(kSlotsPerReplica));
    EXPECT_EQ(samplers[r]->max_deferred(), 0) << "replica " << r << " got a request for a busy slot";
    // The samples saw the load, or the two figures above would prove nothing.
    EXPECT_EQ(samplers[r]->max_processing(), static_cast<int>(kSlotsPerReplica)) << "replica " << r;
  }
  const ModelStats stats = model.stats();
  EXPECT_EQ(stats.requests_total, static_cast<uint64_t>(kConcurrentStreams));
  EXPECT_EQ(stats.tokens_served, static_cast<uint64_t>(kConcurrentStreams) * kStreamTokens);
  EXPECT_EQ(stats.slots_total, kTwoReplicas * kSlotsPerReplica);
  EXPECT_LE(stats.max_in_flight, kTwoReplicas * kSlotsPerReplica);
  EXPECT_EQ(stats.replicas.size(), kTwoReplicas);
  uint64_t requests = 0;
  uint64_t tokens = 0;
  for (uint32_t r = 0; r < stats.replicas.size(); ++r) {
    const ReplicaStats& replica = stats.replicas[r];
    EXPECT_EQ(replica.state, ReplicaState::serving);
    EXPECT_EQ(replica.process_id, model.server_pid(r));
    EXPECT_EQ(replica.slots_total, kSlotsPerReplica);
    EXPECT_LE(replica.max_in_flight, kSlotsPerReplica);
    EXPECT_EQ(replica.requests_total, per_replica.at(r)) << "replica " << r;
    requests += replica.requests_total;
    tokens += replica.tokens_served;
  }
  EXPECT_EQ(requests, stats.requests_total);
  EXPECT_EQ(tokens, stats.tokens_served);
}

TEST(LlamaCppReplicasTest, SixteenConcurrentStreamsNeverPutMoreThanTwoOnEitherServerAndStatsAddUpPerReplica) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(two_replica_options(kReplicaShortContext));
    co_await check_sixteen_streams(*model);
    co_await model->close();
  });
  EXPECT_TRUE(no_child_process_left());
}

// The four holding streams after a fault on `faulty`: its own failed with `expected`, the
// other replica's ran to their end.
void expect_only_faulty_replica_failed(const std::vector<StreamOutcome>& outcomes, int faulty, errc expected) {
  int failed = 0;
  for (const auto& outcome : outcomes) {
    if (outcome.error) {
      ++failed;
      EXPECT_TRUE(outcome.error->is(expected)) << outcome.error->what();
      EXPECT_EQ(replica_of(outcome), faulty) << "a stream of the healthy replica failed: " << outcome.error->what();
    } else {
      EXPECT_NE(replica_of(outcome), faulty) << "a stream of the faulty replica did not fail";
      EXPECT_EQ(outcome.result.finish_reason, FinishReason::length);
      EXPECT_EQ(outcome.result.metrics.generated_tokens, static_cast<uint64_t>(kHoldingTokens));
    }
  }
  EXPECT_EQ(failed, static_cast<int>(kSlotsPerReplica));
}

asio::awaitable<std::vector<StreamOutcome>> finish_all(std::vector<TokenStream>& streams) {
  std::vector<StreamOutcome> outcomes;
  for (auto& stream : streams) {
    StreamOutcome outcome = co_await finish(stream);
    outcomes.push_back(std::move(outcome));
  }
  co_return outcomes;
}

// Waits (bounded) until `replica` serves again from a new server, after exactly one restart.
asio::awaitable<bool> wait_replica_replaced(const LlamaServerModel& model, uint32_t replica, int old_pid) {
  co_return co_await wait_until([&] {
    const ReplicaStats stats = model.stats().replicas.at(replica);
    const int pid = model.server_pid(replica);
    return stats.state == ReplicaState::serving && pid != 0 && pid != old_pid;
  });
}

// While the killed replica's restart is held at the gate: requests queued before the kill and
// arriving after it run on the other replica.
asio::awaitable<void> check_other_replica_serves(LlamaServerModel& model, std::vector<TokenStream>& queued,
                                                 int healthy) {
  for (auto& stream : queued) {
    const StreamOutcome outcome = co_await finish(stream);
    EXPECT_FALSE(outcome.error) << outcome.error->what();
    EXPECT_EQ(outcome.tokens.size(), static_cast<std::size_t>(kShortGeneration));
    EXPECT_EQ(replica_of(outcome), healthy);
  }
  TokenStream arriving = model.generate("Arriving meanwhile", greedy(kShortGeneration));
  const StreamOutcome outcome = co_await finish(arriving);
  EXPECT_FALSE(outcome.error) << outcome.error->what();
  EXPECT_EQ(replica_of(outcome), healthy);
}

TEST(LlamaCppReplicasTest, KilledReplicaFailsOnlyItsStreamsQueuedRequestsCompleteOnTheOtherAndItComesBack) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ServerStartGate gate(test_server_binary());
  run_test([&]() -> asio::awaitable<void> {
    LoadOptions options = two_replica_options(kReplicaLongContext);
    options.backend_options[std::string(engine_option::kServerPath.name)] = gate.launcher().string();
    auto model = co_await load_tiny(options);
    const int killed = model->server_pid(0);
    const int healthy_pid = model->server_pid(1);
    std::vector<TokenStream> running = co_await start_holding_streams(*model, 4, "Running");
    std::vector<TokenStream> queued;
    for (int i = 0; i < kQueuedBehindTheFault; ++i) {
      queued.push_back(model->generate("Queued " + std::to_string(i), greedy(kShortGeneration)));
    }
    const bool waiting = co_await wait_until([&] { return model->stats().queue_depth == kQueuedBehindTheFault; });
    EXPECT_TRUE(waiting);

    gate.close();  // replica 0's restart waits until the other replica has served the queue
    EXPECT_EQ(::kill(killed, SIGKILL), 0);
    const std::vector<StreamOutcome> outcomes = co_await finish_all(running);
    expect_only_faulty_replica_failed(outcomes, 0, errc::child_exited);
    co_await check_other_replica_serves(*model, queued, 1);
    EXPECT_EQ(model->stats().replicas.at(0).state, ReplicaState::restarting);

    gate.open();
    const bool replaced = co_await wait_replica_replaced(*model, 0, killed);
    EXPECT_TRUE(replaced);
    EXPECT_TRUE(wait_process_gone(killed));
    const ModelStats stats = model->stats();
    EXPECT_EQ(stats.replicas.at(0).restarts, 1U);
    EXPECT_EQ(stats.replicas.at(1).restarts, 0U);
    EXPECT_EQ(stats.restarts, 1U);
    EXPECT_EQ(model->server_pid(1), healthy_pid);
    // Both replicas serve again: two streams at once go one to each (least-loaded).
    std::vector<TokenStream> after = co_await start_holding_streams(*model, 2, "After");
    EXPECT_EQ(model->stats().replicas.at(0).slots_busy, 1U);
    co_await model->close();
  });
  EXPECT_TRUE(no_child_process_left());
}

TEST(LlamaCppReplicasTest, StoppedReplicaFailsOnlyItsStreamsWithChildHungAndIsReplaced) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  int stopped = 0;
  run_test([&]() -> asio::awaitable<void> {
    LoadOptions options = two_replica_options(kReplicaLongContext);
    options.backend_options[std::string(engine_option::kStallTimeoutMs.name)] = std::string(kStallTimeoutMs);
    auto model = co_await load_tiny(options);
    const int healthy_pid = model->server_pid(1);
    std::vector<TokenStream> running = co_await start_holding_streams(*model, 4, "Running");
    stopped = model->server_pid(0);
    EXPECT_EQ(::kill(stopped, SIGSTOP), 0);
    const std::vector<StreamOutcome> outcomes = co_await finish_all(running);
    expect_only_faulty_replica_failed(outcomes, 0, errc::child_hung);
    const bool replaced = co_await wait_replica_replaced(*model, 0, stopped);
    EXPECT_TRUE(replaced);
    EXPECT_TRUE(wait_process_gone(stopped)) << "the hung server was not killed";
    EXPECT_EQ(model->server_pid(1), healthy_pid);
    EXPECT_EQ(model->stats().replicas.at(1).restarts, 0U);
    TokenStream after = model->generate("After the hang", greedy(kShortGeneration));
    const StreamOutcome outcome = co_await finish(after);
    EXPECT_FALSE(outcome.error) << outcome.error->what();
    co_await model->close();
  });
  // Whatever happened above, a stopped server must not be left frozen (and unkillable by SIGTERM).
  if (stopped > 0 && process_exists(stopped)) {
    ::kill(stopped, SIGCONT);
    ::kill(stopped, SIGKILL);
    wait_process_gone(stopped);
  }
  EXPECT_TRUE(no_child_process_left());
}

}  // namespace
}  // namespace inference::llama_cpp::test
