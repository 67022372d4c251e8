// What the process-supervision integration tests share: where the real llama-server and the
// tiny test model are (skipping visibly when they are missing), a LaunchSpec for that model,
// and running an awaitable to completion on a test's io_context.
//
// Ownership: plain values. Thread-safety: one test thread. Cancellation: run_until_complete()
// returns when the awaitable completes; ctest's TIMEOUT bounds a hang.
#pragma once

#include <unistd.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <optional>
#include <string>

#include "inference/llama_server/launch_spec.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "inference/llama_server/server_version_probe.hpp"
#include "support/test_inputs.hpp"

namespace inference::llama_server::test {

// The tiny model is ready ~0.2 s after start; this leaves room for a loaded CI machine.
inline constexpr std::chrono::milliseconds kTestLoadTimeout{60'000};
// Slots and per-slot context small enough to load instantly.
inline constexpr std::uint32_t kTestSlots = 2;
inline constexpr std::uint32_t kTestContextPerSlot = 256;

// The real server and the tiny model, found as every test finds them (support/test_inputs.hpp).
inline std::filesystem::path test_server_binary() { return inference::test::llama_server_for_tests(); }
inline std::filesystem::path test_model_path() { return inference::test::tiny_model_for_tests(); }
inline std::optional<std::string> real_server_skip_reason() { return inference::test::llama_server_skip_reason(); }

#define INFERENCE_SKIP_WITHOUT_REAL_SERVER()                                                   \
  do {                                                                                         \
    if (const auto skip_reason = ::inference::llama_server::test::real_server_skip_reason()) { \
      GTEST_SKIP() << *skip_reason;                                                            \
    }                                                                                          \
  } while (false)

// The real server's features are probed once per test program.
inline const ServerVersion& test_server_version() {
  static const ServerVersion version = [] {
    boost::asio::io_context io;
    auto probe = boost::asio::co_spawn(io, probe_server_version(test_server_binary()), boost::asio::use_future);
    io.run();
    return probe.get();
  }();
  return version;
}

inline LaunchSpec tiny_model_spec() {
  LaunchSpec spec;
  spec.binary = test_server_binary();
  spec.features = test_server_version().features;
  spec.model_path = test_model_path();
  spec.slots = kTestSlots;
  spec.context_per_slot = kTestContextPerSlot;
  spec.gpu_layers = 0;
  return spec;
}

// Runs `task` on `io` until it completes (other work on `io`, such as a ServerProcess' output
// reader, may remain) and returns its result or rethrows its exception.
template <typename T>
T run_until_complete(boost::asio::io_context& io, boost::asio::awaitable<T> task) {
  auto result = boost::asio::co_spawn(io, std::move(task), boost::asio::use_future);
  io.restart();
  while (result.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    if (io.run_one() == 0) io.restart();
  }
  return result.get();
}

}  // namespace inference::llama_server::test
