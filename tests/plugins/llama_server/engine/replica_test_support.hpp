// What the replica tests share: load options for two replicas of the tiny model, streams that
// hold their slots, and how a stream ended (its tokens, its error, where it ran).
//
// Ownership: plain values and free functions. Thread-safety: one test coroutine (the streams'
// own rules apply). Cancellation: every wait here is bounded by the stream's own end or by
// kConditionDeadline.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/token_stream.hpp"
#include "llama_cpp_fixture.hpp"

namespace inference::llama_cpp::test {

inline constexpr uint32_t kTwoReplicas = 2;
inline constexpr uint32_t kSlotsPerReplica = 2;
// Room for a holding stream: its few prompt tokens and kHoldingTokens.
inline constexpr uint32_t kReplicaLongContext = 1024;
inline constexpr uint32_t kReplicaShortContext = 256;
// What a holding stream generates (with ignore_eos): at some thousand tokens a second per server,
// about a second, so it is still running when a test acts on its server right after its first
// token, and it ends with FinishReason::length when left alone.
inline constexpr int32_t kHoldingTokens = 900;

// Two replicas of kSlotsPerReplica slots of `context` tokens, one compute thread each, and
// ignore_eos so every generation has the length asked for.
LoadOptions two_replica_options(uint32_t context);

struct StreamOutcome {
  std::vector<Token> tokens;
  std::optional<Error> error;
  GenerateResult result;  // metrics.replica / metrics.slot: where it ran
};

// How long a stream may take to end in these tests: a holding stream takes about a second, a
// queued one a few more; only a stream stuck for good (e.g. waiting for a server that never
// comes) reaches this.
inline constexpr std::chrono::seconds kStreamDeadline{30};

// Reads `stream` to its end. A stream still running after kStreamDeadline is cancelled and
// fails the test (outcome.error is then Error(deadline_exceeded)), so a stuck request shows as
// such instead of as the whole test's timeout.
boost::asio::awaitable<StreamOutcome> finish(TokenStream& stream);

// `count` streams of kHoldingTokens tokens, each returned once it has delivered its first token: every one holds a slot
// when this returns.
boost::asio::awaitable<std::vector<TokenStream>> start_holding_streams(TextModel& model, int count,
                                                                       const std::string& label);

// The model's replicas that are not serving right now.
int replicas_out_of_service(const TextModel& model);

}  // namespace inference::llama_cpp::test
