// What the llama_cpp backend's integration tests share: where the real llama-server and the
// tiny model are (skipping visibly when either is missing), LoadOptions for them, running a
// test coroutine with a bounded wall-clock budget, waiting for conditions with deadlines, and
// looking at the server from the outside (GET /slots, /proc).
//
// Ownership: plain values and free functions. Thread-safety: one test thread, plus the
// io_context threads a test starts. Cancellation: every wait is bounded by its own deadline.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "inference/error.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "inference/llama_server/server_endpoint.hpp"
#include "inference/load_options.hpp"
#include "support/test_inputs.hpp"

namespace inference::llama_cpp::test {

using llama_server::LlamaServerModel;
using llama_server::ServerEndpoint;

using ::inference::test::kTinyModelName;
// Bounds for waiting on conditions that normally hold within milliseconds; they only keep a
// broken build from hanging until the ctest timeout.
inline constexpr std::chrono::seconds kConditionDeadline{30};
// What one test may take in total before its io_context is abandoned (ctest's TIMEOUT is 300 s).
inline constexpr std::chrono::seconds kTestBudget{240};
// Slots and per-slot context of the default test model: large enough that a stream generating
// up to the context limit is still running when the test acts on it.
inline constexpr uint32_t kTestSlots = 4;
inline constexpr uint32_t kLongContextPerSlot = 4096;  // the tiny model's training context

std::filesystem::path test_server_binary();
std::filesystem::path test_model_path();
// Why the real server cannot be used here, or std::nullopt.
std::optional<std::string> skip_reason();

#define INFERENCE_SKIP_WITHOUT_LLAMA_SERVER()                               \
  do {                                                                      \
    if (const auto reason = ::inference::llama_cpp::test::skip_reason()) {  \
      GTEST_SKIP() << "llama-server integration test skipped: " << *reason; \
    }                                                                       \
  } while (false)

// LoadOptions for the tiny model on the test server: one compute thread (ggml spin-waits; see
// docs/llama-server-protocol.md), `slots` slots of `context_per_slot` tokens, backend options
// as given.
LoadOptions tiny_options(uint32_t slots = kTestSlots, uint32_t context_per_slot = kLongContextPerSlot);

boost::asio::awaitable<std::shared_ptr<LlamaServerModel>> load_tiny(LoadOptions options);

// Runs `make()` on a fresh io_context with `threads` threads; fails the test (and abandons the
// work) when it has not finished within kTestBudget.
void run_test(std::function<boost::asio::awaitable<void>()> make, int threads = 2);

// Loads `model` with `options` (on its own io_context, through run_test) and returns the error
// the load fails with, or std::nullopt when it loaded (the model is then closed again).
std::optional<Error> load_error(std::string model, LoadOptions options);

// Polls `condition` every `interval` until it holds (true) or `timeout` passes (false).
boost::asio::awaitable<bool> wait_until(std::function<bool()> condition,
                                        std::chrono::milliseconds timeout = kConditionDeadline,
                                        std::chrono::milliseconds interval = std::chrono::milliseconds(2));

// The model's current server endpoint; throws when it has none (restarting or failed).
ServerEndpoint endpoint_of(const LlamaServerModel& model);

// GET /slots, as the number of slots the server says are processing a task.
boost::asio::awaitable<int> slots_processing(const ServerEndpoint& endpoint);

// Samples GET /slots back to back in the background and records the largest number of slots
// the server reported processing at once.
class SlotSampler {
 public:
  static std::shared_ptr<SlotSampler> start(const boost::asio::any_io_executor& executor, ServerEndpoint endpoint);
  // Stops sampling and waits (bounded) for the sampler to finish.
  boost::asio::awaitable<void> stop();
  int max_processing() const { return max_processing_.load(); }
  int samples() const { return samples_.load(); }

 private:
  boost::asio::awaitable<void> run(ServerEndpoint endpoint);
  std::atomic<bool> stop_{false};
  std::atomic<bool> done_{false};
  std::atomic<int> max_processing_{0};
  std::atomic<int> samples_{0};
};

// /proc/<pid> exists (running, stopped or a zombie).
bool process_exists(pid_t pid);
// Waits (bounded, reaping it if we are its parent or subreaper) until /proc/<pid> is gone.
bool wait_process_gone(pid_t pid, std::chrono::milliseconds timeout = kConditionDeadline);
// This process has no child processes (of any thread).
bool no_children_left();

}  // namespace inference::llama_cpp::test
