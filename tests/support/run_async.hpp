// Test support: run a coroutine to completion on a fresh io_context with N threads.
#pragma once

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
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

}  // namespace inference::testing
