// Where SlotPool puts a request (session, least-loaded replica, prompt prefix, least recently
// used) and who gets a freed slot when requests wait (bounded look-ahead within a priority).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>
#include <vector>

#include "inference/slot_pool.hpp"
#include "support/run_async.hpp"

namespace inference {
namespace {

namespace asio = boost::asio;
using testing::run_async;

// Lets every ready handler run a few times; used to let queued work reach its waiting point.
asio::awaitable<void> yield_a_few(int n = 10) {
  for (int i = 0; i < n; ++i) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

// Acquires, records `name` once served, and releases at once (handing the slot on). A free
// function: the waiter outlives the coroutine that spawns it.
asio::awaitable<void> serve_in_order(SlotPool& pool, std::vector<std::string>& order, std::string name,
                                     SlotRequest request) {
  auto lease = co_await pool.acquire(std::move(request));
  order.push_back(name);
}

// A shared system prompt and two questions: each is well over half shared with the other.
const std::string kSystem = "You are a careful assistant. Answer briefly and cite the manual. ";
const std::string kQuestion1 = kSystem + "How do I reset the device?";
const std::string kQuestion2 = kSystem + "Where is the serial number?";

TEST(SlotPoolPlacement, SessionAffinityBeatsPrefixAndLeastRecentlyUsed) {
  SlotPool pool({.slots = 3, .queue_limit = 4});
  run_async([&]() -> asio::awaitable<void> {
    uint32_t alice_slot = 0;
    {
      auto alice = co_await pool.acquire(SlotRequest("alice", 0, "unrelated text"));
      alice_slot = alice.slot();
    }
    uint32_t question_slot = 0;
    {
      auto question = co_await pool.acquire(SlotRequest("", 0, kQuestion1));
      question_slot = question.slot();
    }
    EXPECT_NE(question_slot, alice_slot);
    // Alice's prompt now matches the other slot's cache, and a third slot is the least
    // recently used: her session's slot wins over both.
    auto again = co_await pool.acquire(SlotRequest("alice", 0, kQuestion2));
    EXPECT_EQ(again.slot(), alice_slot);
  });
  EXPECT_EQ(pool.stats().affinity_hits, 1u);
  EXPECT_EQ(pool.stats().prefix_hits, 0u);
}

TEST(SlotPoolPlacement, LongestSharedPrefixBeatsLeastRecentlyUsed) {
  SlotPool pool({.slots = 3, .queue_limit = 4});
  run_async([&]() -> asio::awaitable<void> {
    uint32_t cached = 0;
    {
      auto first = co_await pool.acquire(SlotRequest("", 0, kQuestion1));
      cached = first.slot();
    }
    { auto other = co_await pool.acquire(SlotRequest("", 0, "something else entirely")); }
    auto second = co_await pool.acquire(SlotRequest("", 0, kQuestion2));
    EXPECT_EQ(second.slot(), cached) << "the least recently used slot was taken instead of the cached prefix";
  });
  EXPECT_EQ(pool.stats().prefix_hits, 1u);
}

TEST(SlotPoolPlacement, WithoutAPromptTheLeastRecentlyUsedSlotIsTaken) {
  SlotPool pool({.slots = 2, .queue_limit = 4});
  run_async([&]() -> asio::awaitable<void> {
    uint32_t used = 0;
    {
      auto first = co_await pool.acquire(SlotRequest("", 0, kQuestion1));
      used = first.slot();
    }
    auto plain = co_await pool.acquire();
    EXPECT_NE(plain.slot(), used);
  });
  EXPECT_EQ(pool.stats().prefix_hits, 0u);
}

TEST(SlotPoolPlacement, LeastLoadedReplicaBeatsACachedPrefixElsewhere) {
  SlotPool pool({.slots = 2, .queue_limit = 4, .replicas = 2});
  run_async([&]() -> asio::awaitable<void> {
    { auto first = co_await pool.acquire(SlotRequest("", 0, kQuestion1)); }  // cached on replica 0
    auto busy = co_await pool.acquire(SlotRequest("", 0, "unrelated"));
    EXPECT_EQ(busy.replica(), 0u) << "least recently used slot, both replicas idle";
    // Replica 0 has one busy slot, replica 1 none: the prefix cached on replica 0 does not count.
    auto elsewhere = co_await pool.acquire(SlotRequest("", 0, kQuestion2));
    EXPECT_EQ(elsewhere.replica(), 1u);
    EXPECT_EQ(pool.stats().prefix_hits, 0u);
    // Now both have one busy slot: among the tied replicas the cached prefix wins.
    auto cached = co_await pool.acquire(SlotRequest("", 0, kQuestion2));
    EXPECT_EQ(cached.replica(), 0u);
    EXPECT_EQ(pool.stats().prefix_hits, 1u);
  });
}

TEST(SlotPoolPlacement, APrefixBelowMinPrefixShareDoesNotCount) {
  SlotPool pool({.slots = 2, .queue_limit = 4, .min_prefix_share = 0.5});
  run_async([&]() -> asio::awaitable<void> {
    uint32_t cached = 0;
    {
      auto first = co_await pool.acquire(SlotRequest("", 0, "abcdefgh"));
      cached = first.slot();
    }
    {
      auto below = co_await pool.acquire(SlotRequest("", 0, "abcxxxxx"));  // 3 of 8 bytes shared
      EXPECT_NE(below.slot(), cached);
    }
    EXPECT_EQ(pool.stats().prefix_hits, 0u);
    auto at_share = co_await pool.acquire(SlotRequest("", 0, "abcdyyyy"));  // 4 of 8: exactly half
    EXPECT_EQ(at_share.slot(), cached);
    EXPECT_EQ(pool.stats().prefix_hits, 1u);
  });
}

TEST(SlotPoolPlacement, PrefixKeyBytesBoundsWhatIsCompared) {
  // Only the first 4 bytes count: "abcdXXXX" and "abcdYYYY" then share all that is compared,
  // where over their whole length they share half, below min_prefix_share = 1.
  SlotPool pool({.slots = 2, .queue_limit = 4, .min_prefix_share = 1.0, .prefix_key_bytes = 4});
  run_async([&]() -> asio::awaitable<void> {
    uint32_t cached = 0;
    {
      auto first = co_await pool.acquire(SlotRequest("", 0, "abcdXXXX"));
      cached = first.slot();
    }
    auto second = co_await pool.acquire(SlotRequest("", 0, "abcdYYYY"));
    EXPECT_EQ(second.slot(), cached);
  });
  EXPECT_EQ(pool.stats().prefix_hits, 1u);
}

TEST(SlotPoolPlacement, WithoutTheCapTheSamePromptsShareTooLittle) {
  // The control for PrefixKeyBytesBoundsWhatIsCompared: the whole prompts are compared.
  SlotPool pool({.slots = 2, .queue_limit = 4, .min_prefix_share = 1.0});
  run_async([&]() -> asio::awaitable<void> {
    uint32_t cached = 0;
    {
      auto first = co_await pool.acquire(SlotRequest("", 0, "abcdXXXX"));
      cached = first.slot();
    }
    auto second = co_await pool.acquire(SlotRequest("", 0, "abcdYYYY"));
    EXPECT_NE(second.slot(), cached);
  });
  EXPECT_EQ(pool.stats().prefix_hits, 0u);
}

// Holds the only slot with `holder`, queues `waiters` in order, then releases: the order in
// which the waiters were served.
std::vector<std::string> served_order(SlotPool& pool, SlotRequest holder,
                                      std::vector<std::pair<std::string, SlotRequest>> waiters) {
  std::vector<std::string> order;
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto held = co_await pool.acquire(std::move(holder));
    for (auto& [name, request] : waiters) {
      asio::co_spawn(ex, serve_in_order(pool, order, name, std::move(request)), asio::detached);
    }
    co_await yield_a_few();
    EXPECT_EQ(pool.stats().queue_depth, waiters.size());
  });
  return order;
}

TEST(SlotPoolLookahead, AFreedSlotGoesToALaterWaiterOfItsSession) {
  SlotPool pool({.slots = 1, .queue_limit = 10, .lookahead = 4});
  const auto order = served_order(pool, SlotRequest("carol"),
                                  {{"a", SlotRequest("x")}, {"b", SlotRequest("y")}, {"carol", SlotRequest("carol")}});
  EXPECT_EQ(order, (std::vector<std::string>{"carol", "a", "b"}));
  EXPECT_EQ(pool.stats().affinity_hits, 1u);
}

TEST(SlotPoolLookahead, AFreedSlotGoesToALaterWaiterThatSharesItsPrefix) {
  SlotPool pool({.slots = 1, .queue_limit = 10, .lookahead = 4});
  const auto order = served_order(pool, SlotRequest("", 0, kQuestion1),
                                  {{"a", SlotRequest("", 0, "unrelated")}, {"q2", SlotRequest("", 0, kQuestion2)}});
  EXPECT_EQ(order, (std::vector<std::string>{"q2", "a"}));
  EXPECT_EQ(pool.stats().prefix_hits, 1u);
}

TEST(SlotPoolLookahead, TheFirstWaiterKeepsTheSlotWhenItMatchesToo) {
  SlotPool pool({.slots = 1, .queue_limit = 10, .lookahead = 4});
  const auto order =
      served_order(pool, SlotRequest("", 0, kQuestion1),
                   {{"first", SlotRequest("", 0, kQuestion2)}, {"second", SlotRequest("", 0, kQuestion1)}});
  EXPECT_EQ(order, (std::vector<std::string>{"first", "second"}));
}

TEST(SlotPoolLookahead, LooksAtNoMoreThanLookaheadWaitersAfterTheFirst) {
  // a and b have no session, so the slot stays carol's while they use it.
  SlotPool pool({.slots = 1, .queue_limit = 10, .lookahead = 1});
  const auto order = served_order(pool, SlotRequest("carol"),
                                  {{"a", SlotRequest()}, {"b", SlotRequest()}, {"carol", SlotRequest("carol")}});
  EXPECT_EQ(order, (std::vector<std::string>{"a", "carol", "b"}))
      << "carol is beyond the look-ahead at first, then the one waiter after the first";
}

TEST(SlotPoolLookahead, NeverPassesOverAHigherPriority) {
  SlotPool pool({.slots = 1, .queue_limit = 10, .lookahead = 4});
  const auto order =
      served_order(pool, SlotRequest("carol"), {{"urgent", SlotRequest("x", 5)}, {"carol", SlotRequest("carol", 0)}});
  EXPECT_EQ(order, (std::vector<std::string>{"urgent", "carol"}));
}

TEST(SlotPoolLookahead, AWaiterIsPassedOverAtMostLookaheadTimes) {
  // Every "m" waiter continues carol's conversation; "first" does not. With lookahead 2, two
  // of them go ahead of it, then it gets the slot although the next one matches.
  SlotPool pool({.slots = 1, .queue_limit = 10, .lookahead = 2});
  const auto order = served_order(pool, SlotRequest("carol"),
                                  {{"first", SlotRequest("x")},
                                   {"m1", SlotRequest("carol")},
                                   {"m2", SlotRequest("carol")},
                                   {"m3", SlotRequest("carol")}});
  EXPECT_EQ(order, (std::vector<std::string>{"m1", "m2", "first", "m3"}));
}

TEST(SlotPoolLookahead, ZeroLookaheadIsStrictFifo) {
  SlotPool pool({.slots = 1, .queue_limit = 10, .lookahead = 0});
  const auto order =
      served_order(pool, SlotRequest("carol"), {{"first", SlotRequest("x")}, {"m1", SlotRequest("carol")}});
  EXPECT_EQ(order, (std::vector<std::string>{"first", "m1"}));
}

}  // namespace
}  // namespace inference
