// Test support: run a coroutine to completion on a fresh io_context with N threads.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <future>
#include <thread>
#include <utility>
#include <vector>

namespace inference::testing {

// `make` is a callable returning boost::asio::awaitable<T>; it is kept alive by co_spawn.
template <class F>
auto run_async(F make, int threads = 1) {
  boost::asio::io_context io(threads);
  auto future = boost::asio::co_spawn(io, std::move(make), boost::asio::use_future);
  std::vector<std::thread> workers;
  for (int i = 1; i < threads; ++i) workers.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : workers) t.join();
  return future.get();
}

// Like run_async() with `threads` threads, but bounded: when `make`'s coroutine has not finished
// within `budget`, the io_context is stopped (the work abandoned) and the test fails instead of
// hanging until ctest's timeout. Rethrows what the coroutine threw.
template <class F>
void run_bounded(F make, int threads, std::chrono::seconds budget) {
  boost::asio::io_context io(threads);
  auto done = boost::asio::co_spawn(io, std::move(make), boost::asio::use_future);
  std::vector<std::thread> workers;
  for (int i = 0; i < threads; ++i) workers.emplace_back([&io] { io.run(); });
  const bool finished = done.wait_for(budget) == std::future_status::ready;
  if (!finished) io.stop();
  for (auto& worker : workers) worker.join();
  if (!finished) {
    ADD_FAILURE() << "the test coroutine did not finish within " << budget.count() << " s";
    return;
  }
  done.get();
}

}  // namespace inference::testing
