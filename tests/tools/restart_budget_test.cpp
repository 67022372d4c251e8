#include "restart_budget.hpp"

#include <gtest/gtest.h>

namespace llmctl {
namespace {

using namespace std::chrono_literals;
using Clock = RestartBudget::Clock;

TEST(RestartBudgetTest, TheBackoffDoublesWithEachRestartInTheWindow) {
  RestartBudget budget(3, 60s, 200ms);
  const auto t0 = Clock::time_point{} + 1h;
  EXPECT_EQ(budget.on_crash(t0), 200ms);
  EXPECT_EQ(budget.on_crash(t0 + 1s), 400ms);
  EXPECT_EQ(budget.on_crash(t0 + 2s), 800ms);
  EXPECT_EQ(budget.restarts_in_window(), 3U);
}

TEST(RestartBudgetTest, OneCrashMoreThanTheBudgetWithinTheWindowGivesUp) {
  RestartBudget budget(2, 60s, 100ms);
  const auto t0 = Clock::time_point{} + 1h;
  ASSERT_TRUE(budget.on_crash(t0));
  ASSERT_TRUE(budget.on_crash(t0 + 1s));
  EXPECT_EQ(budget.on_crash(t0 + 2s), std::nullopt);
}

TEST(RestartBudgetTest, RestartsOlderThanTheWindowNoLongerCount) {
  RestartBudget budget(2, 60s, 100ms);
  const auto t0 = Clock::time_point{} + 1h;
  ASSERT_TRUE(budget.on_crash(t0));
  ASSERT_TRUE(budget.on_crash(t0 + 1s));
  // The first restart left the window: one counts, so the backoff is back to its second step.
  EXPECT_EQ(budget.on_crash(t0 + 60s), 200ms);
  EXPECT_EQ(budget.restarts_in_window(), 2U);
}

TEST(RestartBudgetTest, AZeroBudgetNeverRestarts) {
  RestartBudget budget(0, 60s, 100ms);
  EXPECT_EQ(budget.on_crash(Clock::now()), std::nullopt);
}

}  // namespace
}  // namespace llmctl
