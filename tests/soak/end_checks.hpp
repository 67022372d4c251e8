// The soak's end checks, each a named verdict with the numbers behind it: the model's own
// stats, the real server's GET /slots, resident memory against the baseline, and no child
// process or zombie left after close(). Each waits (bounded) for its condition to settle.
//
// Ownership: plain values. Thread-safety: free functions; the awaitables run on the caller's
// executor. Nothing here reaps a child process.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "inference/text_model.hpp"

namespace inference::soak {

// Cancelled requests hand their slot on only after the server reports it idle, which can take a
// slot_release_timeout (2 s) each; this bounds the settling of the last ones.
inline constexpr std::chrono::milliseconds kSettleTimeout{30'000};
// Once close() and the registry are gone, the server has been reaped already; this only bounds
// a child that is not.
inline constexpr std::chrono::milliseconds kChildrenGoneTimeout{10'000};
inline constexpr double kMiB = 1024.0 * 1024.0;

struct Check {
  std::string name;
  bool passed = false;
  std::string detail;
};

// "check <name> PASS|FAIL <detail>" on stdout.
void print_check(const Check& check);

// No slot busy, nothing queued (waiting up to kSettleTimeout), not failed, one restart per kill,
// nothing rejected.
boost::asio::awaitable<Check> check_model_stats(std::shared_ptr<TextModel> model, uint32_t kills);

// The running llama-server child reports `slots` slots, none processing (waiting up to
// kSettleTimeout).
boost::asio::awaitable<Check> check_server_slots(uint32_t slots);

// end <= baseline * (1 + tolerance); passes with the reason printed under ASan/TSan, whose
// quarantine and shadow memory make RSS meaningless.
Check check_rss(uint64_t baseline, uint64_t end, double tolerance);

// No child of this process (zombie or not) remains, waiting up to kChildrenGoneTimeout.
Check check_no_children();

}  // namespace inference::soak
