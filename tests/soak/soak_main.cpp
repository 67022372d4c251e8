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
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
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
#include "inference/error.hpp"
#include "inference/registry.hpp"
#include "process_probe.hpp"
#include "request_plan.hpp"
#include "server_slots_probe.hpp"
#include "soak_driver.hpp"
#include "soak_options.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SOAK_UNDER_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SOAK_UNDER_SANITIZER 1
#endif

namespace {

namespace asio = boost::asio;
namespace soak = inference::soak;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kBackend = "llama_cpp";
constexpr std::string_view kPluginFile = "libbackend_llama_cpp.so";
// Cancelled requests hand their slot on only after the server reports it idle, which can take a
// slot_release_timeout (2 s) each; this bounds the settling of the last ones.
constexpr std::chrono::milliseconds kSettleTimeout{30'000};
// Once close() and the registry are gone, the server has been reaped already; this only bounds
// a child that is not.
constexpr std::chrono::milliseconds kChildrenGoneTimeout{10'000};
// How long the io_context may take to run out of work after everything was released.
constexpr std::chrono::milliseconds kDrainTimeout{30'000};
constexpr double kMiB = 1024.0 * 1024.0;

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

struct Check {
  std::string name;
  bool passed = false;
  std::string detail;
};

void print_check(const Check& check) {
  std::printf("check %-32s %s  %s\n", check.name.c_str(), check.passed ? "PASS" : "FAIL", check.detail.c_str());
}

template <typename T>
T run_on(asio::io_context& io, asio::awaitable<T> work) {
  return asio::co_spawn(io, std::move(work), asio::use_future).get();
}

inference::LoadOptions load_options(const soak::SoakOptions& options) {
  inference::LoadOptions load;
  load.server_path = options.server;
  load.parallel_slots = options.slots;
  load.context_len = options.context_per_slot;
  load.gpu_layers = 0;
  load.extra_args = {"-t", std::to_string(options.server_threads)};
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

// The model's own view once every request has ended: nothing busy, queued or failed.
asio::awaitable<Check> check_model_stats(std::shared_ptr<inference::TextModel> model, uint32_t kills) {
  const bool idle = co_await soak::wait_until(
      [&] {
        const auto s = model->stats();
        return s.slots_busy == 0 && s.queue_depth == 0;
      },
      kSettleTimeout);
  const auto s = model->stats();
  Check check{"model stats idle", idle && !s.failed && s.restarts == kills && s.requests_rejected == 0, ""};
  check.detail = fmt::format("slots_busy={}/{} queue_depth={} failed={} restarts={} (kills {}) admitted={} "
                             "rejected={} max_in_flight={} tokens_served={}",
                             s.slots_busy, s.slots_total, s.queue_depth, s.failed, s.restarts, kills, s.requests_total,
                             s.requests_rejected, s.max_in_flight, s.tokens_served);
  co_return check;
}

// The real server's view: GET /slots says every slot is idle.
asio::awaitable<Check> check_server_slots(uint32_t slots) {
  Check check{"server /slots idle", false, ""};
  const auto server = soak::find_server_child();
  if (!server) {
    check.detail = "no single running llama-server child:\n" + soak::describe(soak::list_children());
    co_return check;
  }
  const auto address = soak::server_address_of(server->pid);
  if (!address) {
    check.detail = fmt::format("no --host/--port in /proc/{}/cmdline", server->pid);
    co_return check;
  }
  soak::SlotsView view;
  std::string failure;
  const auto started = Clock::now();
  while (Clock::now() - started < kSettleTimeout) {
    try {
      view = co_await soak::query_slots(*address);
      failure.clear();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (failure.empty() && view.processing == 0) break;
    asio::steady_timer pause(co_await asio::this_coro::executor, soak::kPollInterval);
    co_await pause.async_wait(asio::use_awaitable);
  }
  check.passed = failure.empty() && view.processing == 0 && view.total == slots;
  check.detail = failure.empty() ? fmt::format("pid {} on {}: {} of {} slots processing", server->pid,
                                               address->describe(), view.processing, view.total)
                                 : failure;
  co_return check;
}

Check check_rss(uint64_t baseline, uint64_t end, double tolerance) {
  Check check{"rss within tolerance", false, ""};
#ifdef SOAK_UNDER_SANITIZER
  check.passed = true;
  check.detail = fmt::format("skipped: built with a sanitizer (its quarantine and shadow memory make RSS meaningless); "
                             "baseline {:.1f} MiB, end {:.1f} MiB",
                             static_cast<double>(baseline) / kMiB, static_cast<double>(end) / kMiB);
  (void)tolerance;
#else
  const double limit = static_cast<double>(baseline) * (1.0 + tolerance);
  check.passed = baseline > 0 && static_cast<double>(end) <= limit;
  check.detail = fmt::format("baseline {:.1f} MiB, end {:.1f} MiB ({:+.1f}%), limit {:.1f} MiB",
                             static_cast<double>(baseline) / kMiB, static_cast<double>(end) / kMiB,
                             baseline > 0 ? (static_cast<double>(end) / static_cast<double>(baseline) - 1.0) * 100 : 0.0,
                             limit / kMiB);
#endif
  return check;
}

// After close() and the registry's teardown: no child of this process is left, zombie or not.
Check check_no_children() {
  const auto deadline = Clock::now() + kChildrenGoneTimeout;
  auto children = soak::list_children();
  while (!children.empty() && Clock::now() < deadline) {
    std::this_thread::sleep_for(soak::kPollInterval);  // polling /proc: there is no event to wait on
    children = soak::list_children();
  }
  return Check{"no child or zombie left", children.empty(),
               children.empty() ? "none" : "left:\n" + soak::describe(children)};
}

int run(soak::SoakOptions options) {
  const uint64_t seed = options.seed.value_or(std::random_device{}());
  const uint32_t restart_budget = options.kills + soak::kRestartBudgetMargin;
  std::printf("soak: requests=%u concurrency=%u cancel_fraction=%.2f deadline_fraction=%.2f kills=%u max_tokens=%d "
              "deadline_max_tokens=%d slots=%u ctx=%u seed=%llu baseline_after=%u io_threads=%u\n",
              options.requests, options.concurrency, options.cancel_fraction, options.deadline_fraction,
              options.kills, options.max_tokens, options.deadline_max_tokens, options.slots, options.context_per_slot,
              static_cast<unsigned long long>(seed), options.effective_baseline_after(), options.io_threads);
  std::printf("soak: restart_budget=%u per restart window (the engine's default window), so %u kills cannot "
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
  std::vector<Check> checks;
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
    checks.push_back(Check{"every request accounted for", tally.total() == options.requests,
                           fmt::format("{} of {}", tally.total(), options.requests)});
    checks.push_back(Check{"no failed request", tally.failures() == 0,
                           fmt::format("{} failures (unexpected error, untyped exception, hung, wrong result)",
                                       tally.failures())});
    checks.push_back(Check{"server kills done", problems.empty() && driver->killer().kills() == options.kills,
                           problems.empty() ? fmt::format("{} of {}", driver->killer().kills(), options.kills)
                                            : fmt::format("{}", fmt::join(problems, "; "))});
    checks.push_back(run_on(io, check_model_stats(model, options.kills)));
    checks.push_back(run_on(io, check_server_slots(options.slots)));
    const uint64_t end_rss = soak::resident_bytes();
    checks.push_back(check_rss(driver->baseline_rss(), end_rss, options.rss_tolerance));
    counts = fmt::format(
        "requests={} completed={} completed_short={} cancelled={} dropped={} deadline_expired={} deadline_not_reached={} "
        "failed_at_kill={} failures={} hung={} kills={} rss_baseline_mib={:.1f} rss_end_mib={:.1f} duration_s={:.1f}",
        tally.total(), tally.count(soak::Outcome::completed), tally.count(soak::Outcome::completed_short),
        tally.count(soak::Outcome::cancelled_queued) + tally.count(soak::Outcome::cancelled_streaming),
        tally.count(soak::Outcome::dropped_queued) + tally.count(soak::Outcome::dropped_streaming),
        tally.count(soak::Outcome::deadline_before_first_token) + tally.count(soak::Outcome::deadline_while_streaming),
        tally.count(soak::Outcome::deadline_not_reached), tally.count(soak::Outcome::failed_at_kill),
        tally.failures(), tally.count(soak::Outcome::hung), driver->killer().kills(),
        static_cast<double>(driver->baseline_rss()) / kMiB, static_cast<double>(end_rss) / kMiB, seconds);
    std::printf("rss: baseline (after %u requests) %.1f MiB, end %.1f MiB, peak %.1f MiB\n",
                options.effective_baseline_after(), static_cast<double>(driver->baseline_rss()) / kMiB,
                static_cast<double>(end_rss) / kMiB, static_cast<double>(soak::peak_resident_bytes()) / kMiB);

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
    checks.push_back(Check{"io_context drained", drained,
                           drained ? "no work left after close()" : "work left on the io_context after close()"});
    checks.push_back(check_no_children());
  } catch (const std::exception& e) {
    checks.push_back(Check{"run", false, e.what()});
  }
  if (!drained) io.stop();
  work.reset();
  for (auto& thread : threads) thread.join();

  std::printf("\n");
  bool all_passed = true;
  for (const auto& check : checks) {
    print_check(check);
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
