// Tokens per second through `co_await stream.next()` with the stub at zero delay, one thread:
// the runtime's own cost per token, with no server behind it.
#include <benchmark/benchmark.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>

#include "stub_model.hpp"

namespace {

namespace asio = boost::asio;

void BM_StreamTokens(benchmark::State& state) {
  const auto tokens_per_stream = static_cast<int32_t>(state.range(0));
  asio::io_context io(1);
  inference::LoadOptions options;
  auto model =
      std::make_shared<inference::stub::StubModel>(io.get_executor(), "stub", options, inference::stub::StubOptions{});
  uint64_t total = 0;
  for (auto _ : state) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          inference::GenerateConfig config;
          config.max_tokens = tokens_per_stream;
          auto stream = model->generate("benchmark prompt", config);
          while (auto token = co_await stream.next()) {
            benchmark::DoNotOptimize(token->id);
            ++total;
          }
        },
        asio::detached);
    io.restart();
    io.run();
  }
  state.SetItemsProcessed(static_cast<int64_t>(total));
  state.counters["tokens/s"] = benchmark::Counter(static_cast<double>(total), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_StreamTokens)->Arg(16)->Arg(256)->Arg(4096)->Unit(benchmark::kMicrosecond);

// Streams per second: admission, slot, stream setup and teardown, 16 tokens each.
void BM_StreamSetup(benchmark::State& state) {
  asio::io_context io(1);
  inference::LoadOptions options;
  auto model =
      std::make_shared<inference::stub::StubModel>(io.get_executor(), "stub", options, inference::stub::StubOptions{});
  for (auto _ : state) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          inference::GenerateConfig config;
          config.max_tokens = 1;
          auto stream = model->generate("p", config);
          while (co_await stream.next()) {
          }
        },
        asio::detached);
    io.restart();
    io.run();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_StreamSetup)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
