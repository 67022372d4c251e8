// A fixed workload for measuring the core's own overhead (scripts/bench-core):
//   core_overhead_probe tokens N        stream N tokens from the stub (zero delay) on one thread;
//                                       run under callgrind with two N to get instructions/token
//   core_overhead_probe queued N        queue N idle streams behind a busy slot and print the
//                                       heap bytes they hold (mallinfo2), per stream
#include <malloc.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "stub_model.hpp"

namespace asio = boost::asio;
using namespace inference;

namespace {

int stream_tokens(int32_t count) {
  asio::io_context io(1);
  auto model = std::make_shared<stub::StubModel>(io.get_executor(), "stub", LoadOptions{}, stub::StubOptions{});
  uint64_t received = 0;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        GenerateConfig config;
        config.max_tokens = count;
        auto stream = model->generate("probe", config);
        while (auto token = co_await stream.next()) ++received;
      },
      asio::detached);
  io.run();
  std::printf("tokens=%llu\n", static_cast<unsigned long long>(received));
  return received == static_cast<uint64_t>(count) ? 0 : 1;
}

int queued_streams(uint32_t count) {
  asio::io_context io(1);
  LoadOptions options;
  options.parallel_slots = 1;
  options.queue_limit = count;
  stub::StubOptions stub;
  stub.hang_after_tokens = 0;  // the first stream holds the only slot forever
  auto model = std::make_shared<stub::StubModel>(io.get_executor(), "stub", options, stub);
  auto blocker = model->generate("blocker", GenerateConfig{});
  io.poll();

  const auto before = mallinfo2().uordblks;
  std::vector<TokenStream> streams;
  streams.reserve(count);
  const auto after_reserve = mallinfo2().uordblks;
  for (uint32_t i = 0; i < count; ++i)
    streams.push_back(model->generate("queued " + std::to_string(i), GenerateConfig{}));
  io.poll();  // let every producer reach the slot queue
  const auto after = mallinfo2().uordblks;
  const auto stats = model->stats();
  const double per_stream = static_cast<double>(after - after_reserve) / count;
  std::printf("queued=%llu heap_bytes=%zu bytes_per_queued_stream=%.0f (vector of handles excluded: %zu bytes)\n",
              static_cast<unsigned long long>(stats.queue_depth), after - after_reserve, per_stream,
              after_reserve - before);
  streams.clear();
  blocker.cancel();
  io.poll();
  return stats.queue_depth == count ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "tokens") return stream_tokens(std::atoi(argv[2]));
  if (argc == 3 && std::string(argv[1]) == "queued") return queued_streams(static_cast<uint32_t>(std::atoi(argv[2])));
  std::fprintf(stderr, "usage: core_overhead_probe tokens N | queued N\n");
  return 2;
}
