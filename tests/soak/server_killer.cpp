#include "server_killer.hpp"

#include <fmt/format.h>

#include <csignal>

#include "bounded_wait.hpp"
#include "process_probe.hpp"

namespace inference::soak {

namespace asio = boost::asio;

namespace {

double ms_between(ServerKiller::Clock::time_point from, ServerKiller::Clock::time_point to) {
  return std::chrono::duration<double, std::milli>(to - from).count();
}

}  // namespace

asio::awaitable<void> ServerKiller::kill(uint32_t at_request) {
  const uint64_t previous = kills();
  auto model = model_;
  std::optional<ChildProcess> server;
  const bool ready = co_await wait_until(
      [&] {
        if (model->stats().restarts < previous) return false;
        server = find_server_child();
        return server.has_value();
      },
      kRestartDeadline);
  if (!ready) {
    std::lock_guard lock(mutex_);
    problems_.push_back(fmt::format("kill at request {}: no single running llama-server child within {} s:\n{}",
                                    at_request, kRestartDeadline.count(), describe(list_children())));
    co_return;
  }

  const auto killed = Clock::now();
  {
    std::lock_guard lock(mutex_);
    windows_.push_back(Window{killed, std::nullopt});
  }
  if (::kill(server->pid, SIGKILL) != 0) {
    std::lock_guard lock(mutex_);
    problems_.push_back(fmt::format("kill at request {}: kill({}, SIGKILL) failed", at_request, server->pid));
    co_return;
  }

  const bool restarted = co_await wait_until([&] { return model->stats().restarts > previous; }, kRestartDeadline);
  const auto now = Clock::now();
  std::lock_guard lock(mutex_);
  if (!restarted) {
    problems_.push_back(fmt::format("kill at request {}: the model did not restart llama-server (pid {}) within {} s",
                                    at_request, server->pid, kRestartDeadline.count()));
    co_return;
  }
  windows_.back().recovered = now;
  log_.push_back(fmt::format("kill {} at request {}: SIGKILL llama-server pid {}; model serving again after {:.0f} ms",
                             windows_.size(), at_request, server->pid, ms_between(killed, now)));
}

bool ServerKiller::around_kill(Clock::time_point start, Clock::time_point end) const {
  std::lock_guard lock(mutex_);
  for (const auto& window : windows_) {
    if (window.killed <= end && (!window.recovered || *window.recovered >= start)) return true;
  }
  return false;
}

uint32_t ServerKiller::kills() const {
  std::lock_guard lock(mutex_);
  return static_cast<uint32_t>(windows_.size());
}

std::vector<std::string> ServerKiller::log() const {
  std::lock_guard lock(mutex_);
  return log_;
}

std::vector<std::string> ServerKiller::problems() const {
  std::lock_guard lock(mutex_);
  return problems_;
}

}  // namespace inference::soak
