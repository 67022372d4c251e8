#include "end_checks.hpp"

#include <fmt/format.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <thread>

#include "bounded_wait.hpp"
#include "process_probe.hpp"
#include "server_slots_probe.hpp"

#if defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define SOAK_UNDER_SANITIZER 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SOAK_UNDER_SANITIZER 1
#endif

namespace inference::soak {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

void print_check(const Check& check) {
  std::printf("check %-32s %s  %s\n", check.name.c_str(), check.passed ? "PASS" : "FAIL", check.detail.c_str());
}

// The model's own view once every request has ended: nothing busy, queued or failed.
asio::awaitable<Check> check_model_stats(std::shared_ptr<TextModel> model, uint32_t kills) {
  const bool idle = co_await wait_until(
      [&] {
        const auto s = model->stats();
        return s.slots_busy == 0 && s.queue_depth == 0;
      },
      kSettleTimeout);
  const auto s = model->stats();
  Check check{"model stats idle", idle && !s.failed && s.restarts == kills && s.requests_rejected == 0, ""};
  check.detail = fmt::format(
      "slots_busy={}/{} queue_depth={} failed={} restarts={} (kills {}) admitted={} "
      "rejected={} max_in_flight={} tokens_served={}",
      s.slots_busy, s.slots_total, s.queue_depth, s.failed, s.restarts, kills, s.requests_total, s.requests_rejected,
      s.max_in_flight, s.tokens_served);
  co_return check;
}

// The real server's view: GET /slots says every slot is idle.
asio::awaitable<Check> check_server_slots(uint32_t slots) {
  Check check{"server /slots idle", false, ""};
  const auto server = find_server_child();
  if (!server) {
    check.detail = "no single running llama-server child:\n" + describe(list_children());
    co_return check;
  }
  const auto address = server_address_of(server->pid);
  if (!address) {
    check.detail = fmt::format("no --host/--port in /proc/{}/cmdline", server->pid);
    co_return check;
  }
  SlotsView view;
  std::string failure;
  const auto started = Clock::now();
  while (Clock::now() - started < kSettleTimeout) {
    try {
      view = co_await query_slots(*address);
      failure.clear();
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (failure.empty() && view.processing == 0) break;
    asio::steady_timer pause(co_await asio::this_coro::executor, kPollInterval);
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
  check.detail = fmt::format(
      "skipped: built with a sanitizer (its quarantine and shadow memory make RSS meaningless); "
      "baseline {:.1f} MiB, end {:.1f} MiB",
      static_cast<double>(baseline) / kMiB, static_cast<double>(end) / kMiB);
  (void)tolerance;
#else
  const double limit = static_cast<double>(baseline) * (1.0 + tolerance);
  check.passed = baseline > 0 && static_cast<double>(end) <= limit;
  check.detail = fmt::format(
      "baseline {:.1f} MiB, end {:.1f} MiB ({:+.1f}%), limit {:.1f} MiB", static_cast<double>(baseline) / kMiB,
      static_cast<double>(end) / kMiB,
      baseline > 0 ? (static_cast<double>(end) / static_cast<double>(baseline) - 1.0) * 100 : 0.0, limit / kMiB);
#endif
  return check;
}

// After close() and the registry's teardown: no child of this process is left, zombie or not.
Check check_no_children() {
  const auto deadline = Clock::now() + kChildrenGoneTimeout;
  auto children = list_children();
  while (!children.empty() && Clock::now() < deadline) {
    std::this_thread::sleep_for(kPollInterval);  // polling /proc: there is no event to wait on
    children = list_children();
  }
  return Check{"no child or zombie left", children.empty(), children.empty() ? "none" : "left:\n" + describe(children)};
}

}  // namespace inference::soak
