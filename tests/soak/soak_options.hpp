// The soak program's command line: sizes, fractions, the seed, and where the server, model and
// plugins are (flags, else the variables the test suite uses, else the build's defaults).
//
// Ownership: plain value. Thread-safety: read-only once parsed.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace inference::soak {

// The full size; ctest runs a tenth of it.
inline constexpr uint32_t kDefaultRequests = 10'000;
inline constexpr uint32_t kDefaultConcurrency = 64;
// Short generations keep a 10,000-request run to a few minutes on two shared cores.
inline constexpr int32_t kDefaultMaxTokens = 16;
// Deadline requests generate this many tokens (ignore_eos), so that their deadline, never more
// than kDeadlineRunningWindow past the expected queue wait, always passes before they finish.
inline constexpr int32_t kDefaultDeadlineMaxTokens = 512;
// Per slot: a prompt plus kDefaultDeadlineMaxTokens with room to spare.
inline constexpr uint32_t kDefaultContextPerSlot = 1024;
// One compute thread: ggml spin-waits, and the machine's cores are shared.
inline constexpr uint32_t kDefaultServerThreads = 1;
// A stream that shows no end for this long is counted hung (normal ones end within a second).
inline constexpr std::chrono::seconds kDefaultWatchdog{120};
// Restarts allowed beyond the planned kills, so that the budget is never what ends the run.
inline constexpr uint32_t kRestartBudgetMargin = 2;
// The tolerance: RSS at the end within 10% of the baseline.
inline constexpr double kDefaultRssTolerance = 0.10;
// Exit status for a bad command line, as llmctl's.
inline constexpr int kExitUsage = 2;
// Exit status when the server or model is missing: ctest's SKIP_RETURN_CODE (automake's 77).
inline constexpr int kExitSkipped = 77;

struct SoakOptions {
  uint32_t requests = kDefaultRequests;
  uint32_t concurrency = kDefaultConcurrency;
  double cancel_fraction = 0.3;
  double deadline_fraction = 0.1;
  uint32_t kills = 3;
  int32_t max_tokens = kDefaultMaxTokens;
  int32_t deadline_max_tokens = kDefaultDeadlineMaxTokens;
  std::optional<uint64_t> seed;            // unset: from std::random_device, printed
  std::optional<uint32_t> baseline_after;  // unset: requests / 10
  uint32_t slots = 4;
  uint32_t context_per_slot = kDefaultContextPerSlot;
  uint32_t server_threads = kDefaultServerThreads;
  uint32_t io_threads = 2;  // threads running the host's io_context
  std::chrono::seconds watchdog = kDefaultWatchdog;
  double rss_tolerance = kDefaultRssTolerance;
  std::string model;       // empty: <models dir>/llama-2-tiny-random.gguf
  std::string server;      // empty: LLAMA_SERVER_PATH, INFERENCE_TEST_LLAMA_SERVER, configured
  std::string plugin_dir;  // empty: INFERENCE_TEST_PLUGIN_DIR, then the registry's defaults

  uint32_t effective_baseline_after() const { return baseline_after.value_or(requests / 10); }
};

// Parses argv; on --help or a usage error prints and returns the exit status to use.
std::optional<int> parse_options(int argc, char** argv, SoakOptions& options);

// Fills in model/server/plugin_dir from the environment and the build's configuration.
void resolve_paths(SoakOptions& options);

// Why the soak cannot run here (no server, no model), or std::nullopt.
std::optional<std::string> skip_reason(const SoakOptions& options);

}  // namespace inference::soak
