// soak: the reliability run of issue #6. Loads the llama_cpp backend through the plugin
// Registry like a host application, sends N requests at concurrency C through one model with
// the tiny real model (a share cancelled while queued or streaming, by cancel() or by dropping
// the stream; a share with deadlines that expire), SIGKILLs the llama-server child K times, and
// then checks that nothing leaked: the model's slots and queue, the server's own /slots, child
// processes and zombies, and resident memory against a baseline. Prints the counts; exit status
// 0 only when every check passed (77 when the server or model is missing: ctest's skip code).
#include <fmt/format.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <random>
#include <thread>
#include <vector>

#include "bounded_wait.hpp"
#include "end_checks.hpp"
#include "inference/error.hpp"
#include "inference/registry.hpp"
#include "process_probe.hpp"
#include "request_plan.hpp"
#include "soak_driver.hpp"
#include "soak_options.hpp"

namespace {

namespace asio = boost::asio;
namespace soak = inference::soak;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kBackend = "llama_cpp";
constexpr std::string_view kPluginFile = "libbackend_llama_cpp.so";
// How long the io_context may take to run out of work after everything was released.
constexpr std::chrono::milliseconds kDrainTimeout{30'000};

// Gibberish in, gibberish out: the tiny model has random weights. Several prompts so that the
// slots' prompt caches see both hits and misses.
const std::vector<std::string> kPrompts = {
    "Once upon a time",
    "The quick brown fox jumps over the lazy dog because",
    "In the beginning",
    "Soak tests find what unit tests cannot:",
    "A long time ago in a galaxy far, far away, there was a small model that",
    "1, 2, 3, 4,",
};

template <typename T>
T run_on(asio::io_context& io, asio::awaitable<T> work) {
  return asio::co_spawn(io, std::move(work), asio::use_future).get();
}

inference::LoadOptions load_options(const soak::SoakOptions& options) {
  inference::LoadOptions load;
  load.backend_options["server_path"] = options.server;
  load.parallel_slots = options.slots;
  load.context_len = options.context_per_slot;
  load.gpu_layers = 0;
  load.backend_options["server_args"] = "-t\n" + std::to_string(options.server_threads);  // one per line
  load.backend_options["restart_budget"] = std::to_string(options.kills + soak::kRestartBudgetMargin);
  // Every planned generation runs to max_tokens, so "completed" has one exact meaning.
  load.backend_options["ignore_eos"] = "1";
  return load;
}

asio::awaitable<std::shared_ptr<inference::TextModel>> load_model(inference::Registry& registry, std::string path,
                                                                  inference::LoadOptions options) {
  std::string backend(kBackend);
  co_return co_await registry.load_model(std::move(path), std::move(options), std::move(backend));
}

int run(soak::SoakOptions options) {
  const uint64_t seed = options.seed.value_or(std::random_device{}());
  const uint32_t restart_budget = options.kills + soak::kRestartBudgetMargin;
  std::printf(
      "soak: requests=%u concurrency=%u cancel_fraction=%.2f deadline_fraction=%.2f kills=%u max_tokens=%d "
      "deadline_max_tokens=%d slots=%u ctx=%u seed=%llu baseline_after=%u io_threads=%u\n",
      options.requests, options.concurrency, options.cancel_fraction, options.deadline_fraction, options.kills,
      options.max_tokens, options.deadline_max_tokens, options.slots, options.context_per_slot,
      static_cast<unsigned long long>(seed), options.effective_baseline_after(), options.io_threads);
  std::printf(
      "soak: restart_budget=%u per restart window (the engine's default window), so %u kills cannot "
      "exhaust it\n",
      restart_budget, options.kills);
  std::printf("soak: server %s, model %s\n", options.server.c_str(), options.model.c_str());
  std::fflush(stdout);

  soak::PlanSettings settings;
  settings.requests = options.requests;
  settings.seed = seed;
  settings.cancel_fraction = options.cancel_fraction;
  settings.deadline_fraction = options.deadline_fraction;
  settings.max_tokens = options.max_tokens;
  settings.prompts = static_cast<uint32_t>(kPrompts.size());
  auto plan = soak::make_plan(settings);

  // The backend's availability check looks for the server on its own (LLAMA_SERVER_PATH, then
  // PATH); point it at the one this run uses, as a host application's launcher would.
  ::setenv("LLAMA_SERVER_PATH", options.server.c_str(), 1);
  auto registry = std::make_unique<inference::Registry>();
  if (!options.plugin_dir.empty()) {
    registry->load_plugin(std::filesystem::path(options.plugin_dir) / kPluginFile);
  } else {
    for (const auto& failure : registry->load_plugins()) std::fprintf(stderr, "soak: %s\n", failure.message.c_str());
  }

  asio::io_context io(static_cast<int>(options.io_threads));
  auto work = asio::make_work_guard(io);
  std::atomic<uint32_t> idle_threads{0};
  std::vector<std::thread> threads;
  for (uint32_t i = 0; i < options.io_threads; ++i) {
    threads.emplace_back([&] {
      io.run();
      idle_threads.fetch_add(1);
    });
  }
  std::vector<soak::Check> checks;
  std::string counts = "no run";
  bool drained = false;
  try {
    const auto load_started = Clock::now();
    const inference::LoadOptions load = load_options(options);
    auto model = run_on(io, load_model(*registry, options.model, load));
    std::printf("soak: model loaded in %.0f ms\n",
                std::chrono::duration<double, std::milli>(Clock::now() - load_started).count());
    std::fflush(stdout);

    auto driver = std::make_shared<soak::SoakDriver>(model, options, std::move(plan), kPrompts);
    const auto started = Clock::now();
    std::vector<std::future<void>> workers;
    for (uint32_t i = 0; i < options.concurrency; ++i) {
      workers.push_back(asio::co_spawn(io, driver->worker(), asio::use_future));
    }
    for (auto& worker : workers) worker.get();
    const double seconds = std::chrono::duration<double>(Clock::now() - started).count();

    const auto& tally = driver->tally();
    std::printf("%s", tally.report().c_str());
    for (const auto& line : driver->killer().log()) std::printf("%s\n", line.c_str());
    std::printf("queue depth when a queued request was cancelled/dropped: mean %.1f, min %llu\n",
                driver->mean_queue_depth_at_queued_cancel(),
                static_cast<unsigned long long>(driver->min_queue_depth_at_queued_cancel()));
    std::printf("duration %.1f s, %.1f requests/s\n", seconds, options.requests / seconds);

    const auto problems = driver->killer().problems();
    checks.push_back(soak::Check{"every request accounted for", tally.total() == options.requests,
                                 fmt::format("{} of {}", tally.total(), options.requests)});
    checks.push_back(soak::Check{
        "no failed request", tally.failures() == 0,
        fmt::format("{} failures (unexpected error, untyped exception, hung, wrong result)", tally.failures())});
    checks.push_back(soak::Check{"server kills done", problems.empty() && driver->killer().kills() == options.kills,
                                 problems.empty() ? fmt::format("{} of {}", driver->killer().kills(), options.kills)
                                                  : fmt::format("{}", fmt::join(problems, "; "))});
    checks.push_back(run_on(io, soak::check_model_stats(model, options.kills)));
    checks.push_back(run_on(io, soak::check_server_slots(options.slots)));
    const uint64_t end_rss = soak::resident_bytes();
    checks.push_back(soak::check_rss(driver->baseline_rss(), end_rss, options.rss_tolerance));
    counts = fmt::format(
        "requests={} completed={} cancelled={} dropped={} deadline_expired={} "
        "deadline_not_reached={} finished_before_cancel={} "
        "failed_at_kill={} failures={} hung={} kills={} rss_baseline_mib={:.1f} rss_end_mib={:.1f} duration_s={:.1f}",
        tally.total(), tally.count(soak::Outcome::completed),
        tally.count(soak::Outcome::cancelled_queued) + tally.count(soak::Outcome::cancelled_streaming),
        tally.count(soak::Outcome::dropped_queued) + tally.count(soak::Outcome::dropped_streaming),
        tally.count(soak::Outcome::deadline_before_first_token) + tally.count(soak::Outcome::deadline_while_streaming),
        tally.count(soak::Outcome::deadline_not_reached), tally.count(soak::Outcome::finished_before_cancel),
        tally.count(soak::Outcome::failed_at_kill), tally.failures(), tally.count(soak::Outcome::hung),
        driver->killer().kills(), static_cast<double>(driver->baseline_rss()) / soak::kMiB,
        static_cast<double>(end_rss) / soak::kMiB, seconds);
    std::printf("rss: baseline (after %u requests) %.1f MiB, end %.1f MiB, peak %.1f MiB\n",
                options.effective_baseline_after(), static_cast<double>(driver->baseline_rss()) / soak::kMiB,
                static_cast<double>(end_rss) / soak::kMiB,
                static_cast<double>(soak::peak_resident_bytes()) / soak::kMiB);

    run_on(io, model->close());
    driver.reset();
    model.reset();
    registry.reset();
    work.reset();
    const auto drain_deadline = Clock::now() + kDrainTimeout;
    while (idle_threads.load() < options.io_threads && Clock::now() < drain_deadline) {
      std::this_thread::sleep_for(soak::kPollInterval);  // polling the threads: no event to wait on
    }
    drained = idle_threads.load() == options.io_threads;
    checks.push_back(soak::Check{"io_context drained", drained,
                                 drained ? "no work left after close()" : "work left on the io_context after close()"});
    checks.push_back(soak::check_no_children());
  } catch (const std::exception& e) {
    checks.push_back(soak::Check{"run", false, e.what()});
  }
  if (!drained) io.stop();
  work.reset();
  for (auto& thread : threads) thread.join();

  std::printf("\n");
  bool all_passed = true;
  for (const auto& check : checks) {
    soak::print_check(check);
    all_passed = all_passed && check.passed;
  }
  std::printf("soak summary: %s %s\n", all_passed ? "PASS" : "FAIL", counts.c_str());
  return all_passed ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  soak::SoakOptions options;
  if (const auto status = soak::parse_options(argc, argv, options)) return *status;
  soak::resolve_paths(options);
  if (const auto reason = soak::skip_reason(options)) {
    std::printf("soak: SKIPPED: %s\n", reason->c_str());
    return soak::kExitSkipped;
  }
  try {
    return run(std::move(options));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "soak: %s\n", e.what());
    return 1;
  }
}
