// Waiting for a condition that has no event to wait on (a counter in another component, /proc),
// by polling it on the caller's executor with a hard bound.
//
// Thread-safety: `condition` is called on the awaiting coroutine's executor and must be safe to
// call there. Cancellation: the poll timer's wait throws when the coroutine is cancelled.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

namespace inference::soak {

// Fine enough that a waiter notices within a fraction of a typical request's time.
inline constexpr std::chrono::milliseconds kPollInterval{5};

// True as soon as `condition()` holds, false once `timeout` has passed without it holding.
template <typename Condition>
boost::asio::awaitable<bool> wait_until(Condition condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  for (;;) {
    if (condition()) co_return true;
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    timer.expires_after(kPollInterval);
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

}  // namespace inference::soak
