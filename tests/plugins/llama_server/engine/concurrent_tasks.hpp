// Running a test's client coroutines side by side (N concurrent clients of one model or server)
// and waiting for every one of them.
//
// Ownership: the tasks are moved in. Thread-safety: the tasks run on one strand of the caller's
// executor, so they may share plain test state without locks. Cancellation: none of its own;
// every task bounds its own waits, and run_test() bounds the whole test.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <utility>
#include <vector>

namespace inference::llama_cpp::test {

// Runs every task to its end and then rethrows the first exception any of them threw.
inline boost::asio::awaitable<void> run_concurrently(std::vector<boost::asio::awaitable<void>> tasks) {
  namespace asio = boost::asio;
  const auto strand = asio::make_strand(co_await asio::this_coro::executor);
  using Spawned = decltype(asio::co_spawn(strand, std::declval<asio::awaitable<void>>(), asio::deferred));
  std::vector<Spawned> spawned;
  spawned.reserve(tasks.size());
  for (auto& task : tasks) spawned.push_back(asio::co_spawn(strand, std::move(task), asio::deferred));
  auto [order, failures] = co_await asio::experimental::make_parallel_group(std::move(spawned))
                               .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  (void)order;
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
}

}  // namespace inference::llama_cpp::test
