#include "restart_budget.hpp"

namespace llmctl {

RestartBudget::RestartBudget(std::size_t budget, Clock::duration window, std::chrono::milliseconds backoff)
    : budget_(budget), window_(window), backoff_(backoff) {}

std::optional<std::chrono::milliseconds> RestartBudget::on_crash(Clock::time_point now) {
  while (!restarts_.empty() && now - restarts_.front() >= window_) restarts_.pop_front();
  if (restarts_.size() >= budget_) return std::nullopt;
  const auto delay = backoff_ * (1LL << restarts_.size());
  restarts_.push_back(now);
  return delay;
}

}  // namespace llmctl
