// llmctl bench: push many requests through one loaded model, a fixed number at a time, and
// report throughput and latency percentiles.
//
// `concurrency` worker coroutines pull request indices from a shared counter until all are
// taken, so at most `concurrency` requests are in the model at once (the model's slots decide
// how many of those actually run; the rest queue).
#include <fmt/core.h>
#include <sys/resource.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "bench_prompt.hpp"
#include "bench_report.hpp"
#include "bench_stats.hpp"
#include "command_context.hpp"
#include "commands.hpp"
#include "constraint_flags.hpp"
#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "inference/registry.hpp"
#include "inference/text_model.hpp"
#include "json_output.hpp"
#include "milliseconds.hpp"
#include "model_flags.hpp"

namespace llmctl {

namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kDefaultConcurrency = 16;
constexpr uint32_t kDefaultRequests = 64;
constexpr int32_t kDefaultBenchMaxTokens = 128;
constexpr uint32_t kDefaultPromptWords = 16;
// The live progress line is redrawn at most this often: often enough to look live, rarely
// enough not to cost the run anything measurable.
constexpr std::chrono::milliseconds kProgressInterval{100};

struct BenchOptions {
  PluginFlags plugins;
  ModelFlags model;
  uint32_t concurrency = kDefaultConcurrency;
  uint32_t requests = kDefaultRequests;
  int32_t max_tokens = kDefaultBenchMaxTokens;
  uint32_t prompt_words = kDefaultPromptWords;
  uint32_t shared_prefix_words = 0;
  bool json = false;
  inference::GenerateConfig constraint;  // --json-schema / --grammar: json_schema and grammar only
};

// Shared by all workers of one run; they take turns on the one io thread.
struct BenchRun {
  std::shared_ptr<inference::TextModel> model;
  inference::GenerateConfig config;
  uint32_t requests = 0;
  uint32_t prompt_words = 0;
  uint32_t shared_prefix_words = 0;
  uint32_t next_request = 0;
  BenchStats stats;
};

asio::awaitable<void> bench_worker(BenchRun& run) {
  while (run.next_request < run.requests) {
    const uint32_t index = run.next_request++;
    auto stream = run.model->generate(bench_prompt(index, run.prompt_words, run.shared_prefix_words), run.config);
    try {
      while (co_await stream.next()) run.stats.record_token();
      run.stats.record_success(stream.result());
    } catch (const inference::Error& e) {
      if (e.is(inference::errc::cancelled)) throw;  // the whole run is being cancelled (Ctrl-C)
      run.stats.record_failure(e.code(), stream.result().metrics.replica);
    }
  }
}

asio::awaitable<void> run_workers(BenchRun& run, uint32_t count) {
  auto executor = co_await asio::this_coro::executor;
  using Worker = decltype(asio::co_spawn(executor, bench_worker(run), asio::deferred));
  std::vector<Worker> workers;
  workers.reserve(count);
  for (uint32_t i = 0; i < count; ++i) workers.push_back(asio::co_spawn(executor, bench_worker(run), asio::deferred));
  auto [order, failures] = co_await asio::experimental::make_parallel_group(std::move(workers))
                               .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
}

// Redraws one status line on stderr until cancelled.
asio::awaitable<void> show_progress(const BenchRun& run, Clock::time_point start) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(kProgressInterval);
    co_await timer.async_wait(asio::use_awaitable);
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    const auto& stats = run.stats;
    fmt::print(stderr, "\r{}/{} done  {} errors  {} tokens  {:.0f} tok/s  {} slots busy\x1b[K",
               stats.completed() + stats.errors(), run.requests, stats.errors(), stats.tokens(),
               static_cast<double>(stats.tokens()) / seconds, run.model->stats().slots_busy);
    std::fflush(stderr);
  }
}

asio::awaitable<void> run_with_progress(BenchRun& run, uint32_t workers, Clock::time_point start) {
  auto executor = co_await asio::this_coro::executor;
  auto [order, workers_failure, progress_failure] =
      co_await asio::experimental::make_parallel_group(
          asio::co_spawn(executor, run_workers(run, workers), asio::deferred),
          asio::co_spawn(executor, show_progress(run, start), asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  fmt::print(stderr, "\r\x1b[K");  // erase the progress line
  std::fflush(stderr);
  if (workers_failure) std::rethrow_exception(workers_failure);
}

// User + system CPU of this process (all threads), not of its children.
double process_cpu_seconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// When the server said it listens (llama-server: "... listening on http://..."), counted from the
// start of the load: the yardstick for the runtime's readiness detection. Lines arrive on the
// output reader's thread while the load is awaited on another, hence the lock.
class ListeningClock {
 public:
  explicit ListeningClock(Clock::time_point start) : start_(start) {}

  void observe(std::string_view line) {
    if (line.find("listening on") == std::string_view::npos) return;
    const auto now = Clock::now();
    std::lock_guard lock(mutex_);
    if (!at_) at_ = now;
  }
  std::optional<double> elapsed_ms() const {
    std::lock_guard lock(mutex_);
    if (!at_) return std::nullopt;
    return to_milliseconds(*at_ - start_);
  }

 private:
  const Clock::time_point start_;
  mutable std::mutex mutex_;
  std::optional<Clock::time_point> at_;
};

BenchSettings settings_for(const inference::Registry& registry, const BenchOptions& options) {
  return BenchSettings{
      .backend = options.model.backend.empty() ? registry.default_backend()->name() : options.model.backend,
      .model = options.model.model,
      .slots = options.model.parallel_slots,
      .concurrency = options.concurrency,
      .requests = options.requests,
      .max_tokens = options.max_tokens,
      .prompt_words = options.prompt_words,
      .shared_prefix_words = options.shared_prefix_words,
  };
}

// Runs all requests through `model` and fills the report's measurements.
asio::awaitable<void> measure(std::shared_ptr<inference::TextModel> model, const BenchOptions& options,
                              BenchReport& report) {
  BenchRun run;
  run.model = std::move(model);
  run.config.max_tokens = options.max_tokens;
  run.config.temperature = 0.0F;
  run.config.json_schema = options.constraint.json_schema;
  run.config.grammar = options.constraint.grammar;
  run.requests = options.requests;
  run.prompt_words = options.prompt_words;
  run.shared_prefix_words = options.shared_prefix_words;
  const uint32_t workers = std::min(options.concurrency, options.requests);
  const bool progress = !options.json && ::isatty(::fileno(stderr)) == 1;

  const double cpu_start = process_cpu_seconds();
  const auto start = Clock::now();
  // An if, not `co_await (progress ? a : b)`: g++ 12 destroys the chosen awaitable twice.
  if (progress) {
    co_await run_with_progress(run, workers, start);
  } else {
    co_await run_workers(run, workers);
  }
  report.wall_s = std::chrono::duration<double>(Clock::now() - start).count();
  report.host_cpu_s = process_cpu_seconds() - cpu_start;
  report.model_stats = run.model->stats();
  report.stats = std::move(run.stats);
}

asio::awaitable<void> bench(inference::Registry& registry, const BenchOptions& options) {
  BenchReport report;
  report.settings = settings_for(registry, options);
  inference::LoadOptions load_options = options.model.load_options();
  const auto load_start = Clock::now();
  auto listening = std::make_shared<ListeningClock>(load_start);
  load_options.child_log = [listening, forward = std::move(load_options.child_log)](std::string_view line) {
    listening->observe(line);
    if (forward) forward(line);
  };
  auto model = co_await registry.load_model(options.model.model, std::move(load_options), report.settings.backend);
  report.load_ms = to_milliseconds(Clock::now() - load_start);
  report.server_listening_ms = listening->elapsed_ms();
  const inference::ModelInfo info = model->info();
  report.context_per_slot = info.serving_context_per_slot;
  report.context_reason = info.serving_context_reason;
  report.device = info.serving_device;
  co_await measure(model, options, report);
  co_await model->close();

  if (options.json) {
    print_json_line(to_json(report));
  } else {
    print_table(report, stdout);
  }
}

int run_bench(const BenchOptions& options) {
  CommandContext context(options.plugins);
  context.warn_plugin_failures();
  return context.run([&] { return bench(context.registry(), options); });
}

}  // namespace

void add_bench_command(CLI::App& app, CommandAction& action) {
  auto options = std::make_shared<BenchOptions>();
  auto* command = app.add_subcommand("bench", "Measure throughput and latency of one loaded model");
  add_plugin_flags(*command, options->plugins);
  add_model_flags(*command, options->model);
  command->add_option("--concurrency", options->concurrency, "Requests in flight at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--requests", options->requests, "Requests in total")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command->add_option("--max-tokens", options->max_tokens, "Tokens generated per request")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  command
      ->add_option("--prompt-words", options->prompt_words,
                   "Words per prompt (\"story story ... <index>\"); with --shared-prefix-words, the words after it")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  command
      ->add_option("--shared-prefix-words", options->shared_prefix_words,
                   "Open every prompt with the same N words (a shared system prompt), then --prompt-words words "
                   "of its own starting with its index; 0: no shared prefix")
      ->capture_default_str();
  add_constraint_flags(*command, options->constraint);
  command->add_flag("--json", options->json, "Print one JSON object instead of the table (no progress line)");
  command->callback([options, &action] { action = [options] { return run_bench(*options); }; });
}

}  // namespace llmctl
