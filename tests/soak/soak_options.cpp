#include "soak_options.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>

#include "support/test_inputs.hpp"

namespace inference::soak {

namespace fs = std::filesystem;

std::optional<int> parse_options(int argc, char** argv, SoakOptions& options) {
  CLI::App app{"soak: many requests through the llama_cpp backend with cancellations, deadlines and server kills"};
  // A later flag wins, so that scripts/soak's defaults can be overridden by its arguments.
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.add_option("--requests", options.requests, "Requests in the run")->check(CLI::PositiveNumber);
  app.add_option("--concurrency", options.concurrency, "Requests in flight at once")->check(CLI::PositiveNumber);
  app.add_option("--cancel-fraction", options.cancel_fraction, "Share cancelled (queued/streaming, cancel/drop)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--deadline-fraction", options.deadline_fraction, "Share with a deadline that expires")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--kills", options.kills, "SIGKILLs of the llama-server child, evenly spaced");
  app.add_option("--max-tokens", options.max_tokens, "Tokens per normal request")->check(CLI::Range(2, 4096));
  app.add_option("--deadline-max-tokens", options.deadline_max_tokens, "Tokens asked by deadline requests")
      ->check(CLI::Range(2, 1 << 20));
  uint64_t seed = 0;
  auto* seed_option = app.add_option("--seed", seed, "Seed of the request plan (default: random, printed)");
  uint32_t baseline_after = 0;
  auto* baseline_option =
      app.add_option("--baseline-after", baseline_after,
                     "Completed requests after which RSS is sampled as the baseline (default: requests/10)");
  app.add_option("--slots", options.slots, "Server slots")->check(CLI::Range(1, 256));
  app.add_option("--ctx", options.context_per_slot, "Context per slot");
  app.add_option("--server-threads", options.server_threads, "llama-server -t")->check(CLI::PositiveNumber);
  app.add_option("--io-threads", options.io_threads, "Threads running the host's io_context")->check(CLI::Range(1, 64));
  app.add_option("--rss-tolerance", options.rss_tolerance, "Allowed RSS growth over the baseline (0.10 = 10%)")
      ->check(CLI::NonNegativeNumber);
  int64_t watchdog_s = options.watchdog.count();
  app.add_option("--watchdog-s", watchdog_s, "Seconds after which a stream that has not ended is counted hung")
      ->check(CLI::PositiveNumber);
  app.add_option("--model", options.model, "GGUF model (default: the tiny model of the shared models dir)");
  app.add_option("--server", options.server, "llama-server binary");
  app.add_option("--plugin-dir", options.plugin_dir, "Directory with libbackend_llama_cpp.so");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int status = app.exit(e);  // prints the help or the error
    return status == 0 ? 0 : kExitUsage;
  }
  options.watchdog = std::chrono::seconds(watchdog_s);
  if (seed_option->count() > 0) options.seed = seed;
  if (baseline_option->count() > 0) options.baseline_after = baseline_after;
  if (options.cancel_fraction + options.deadline_fraction > 1.0) {
    std::fprintf(stderr, "soak: --cancel-fraction + --deadline-fraction must not exceed 1\n");
    return kExitUsage;
  }
  if (options.effective_baseline_after() > options.requests) {
    std::fprintf(stderr, "soak: --baseline-after must not exceed --requests\n");
    return kExitUsage;
  }
  return std::nullopt;
}

void resolve_paths(SoakOptions& options) {
  if (options.server.empty()) options.server = test::llama_server_for_tests().string();
  if (options.model.empty()) options.model = test::tiny_model_for_tests().string();
  if (options.plugin_dir.empty()) options.plugin_dir = test::environment_or_empty("INFERENCE_TEST_PLUGIN_DIR");
}

std::optional<std::string> skip_reason(const SoakOptions& options) {
  if (options.server.empty() || ::access(options.server.c_str(), X_OK) != 0) {
    return "no executable llama-server at '" + options.server +
           "' (set LLAMA_SERVER_PATH or run scripts/install-llama-server)";
  }
  if (!fs::is_regular_file(options.model)) {
    return "model " + options.model + " missing (set INFERENCE_MODELS_DIR)";
  }
  return std::nullopt;
}

}  // namespace inference::soak
