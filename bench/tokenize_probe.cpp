// tokenize() requests per second while every slot is busy generating (scripts/bench-structured):
//   tokenize_probe MODEL.gguf SLOTS SECONDS CLIENTS
// loads MODEL with the llama_cpp plugin of this build (the llama-server from LLAMA_SERVER_PATH or
// the configured one; one compute thread; ignore_eos), starts SLOTS generations that run until
// the probe ends them, waits for each one's first token, then runs CLIENTS coroutines that call
// tokenize() back to back for SECONDS. Prints one line of key=value figures; exits 1 when a
// generation ended before the measurement did (the slots were then not all busy throughout).
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/registry.hpp"

namespace asio = boost::asio;
using namespace inference;
using Clock = std::chrono::steady_clock;

namespace {

// A slot's generation outlasts any measurement: ignore_eos, and far more tokens than it can
// produce in SECONDS (it is cancelled at the end).
constexpr int32_t kUntilCancelled = 1'000'000;
constexpr uint32_t kContextPerSlot = 4096;
// The text each call tokenizes: a short prompt, as a client counting tokens before it sends one.
constexpr std::string_view kText = "Count the tokens of this short prompt before sending it to the model, please.";

struct Figures {
  uint64_t calls = 0;
  uint64_t generated_meanwhile = 0;
  bool slots_busy_throughout = true;
  double seconds = 0.0;
};

asio::awaitable<void> tokenize_until(TextModel& model, Clock::time_point end, uint64_t& calls) {
  while (Clock::now() < end) {
    (void)co_await model.tokenize(std::string(kText), true);
    ++calls;
  }
}

// The generations and what their readers counted; shared with the readers, which may still be
// unwinding from the cancellation when the measurement returns.
struct Generations {
  std::vector<TokenStream> streams;
  std::vector<uint64_t> tokens;
};

// Reads a generation until it is cancelled, so it never waits for its reader (backpressure).
asio::awaitable<void> drain(std::shared_ptr<Generations> generations, std::size_t index) {
  try {
    while (co_await generations->streams[index].next()) ++generations->tokens[index];
  } catch (const Error&) {
    // cancelled at the end of the measurement
  }
}

asio::awaitable<Figures> measure(Registry& registry, const std::string& model_path, uint32_t slots, int seconds,
                                 uint32_t clients) {
  LoadOptions options;
  options.parallel_slots = slots;
  options.context_len = kContextPerSlot;
  options.backend_options["ignore_eos"] = "1";
  options.backend_options["server_args"] = "-t\n1";
  auto model = co_await registry.load_model(model_path, options, "llama_cpp");
  GenerateConfig config;
  config.max_tokens = kUntilCancelled;
  config.temperature = 0.0F;
  auto generations = std::make_shared<Generations>();
  for (uint32_t i = 0; i < slots; ++i) {
    generations->streams.push_back(model->generate("Busy slot " + std::to_string(i), config));
  }
  generations->tokens.assign(slots, 0);
  for (TokenStream& stream : generations->streams) (void)co_await stream.next();

  Figures figures;
  const auto executor = co_await asio::this_coro::executor;
  for (uint32_t i = 0; i < slots; ++i) asio::co_spawn(executor, drain(generations, i), asio::detached);
  const auto start = Clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  using Spawned = decltype(asio::co_spawn(executor, std::declval<asio::awaitable<void>>(), asio::deferred));
  std::vector<Spawned> workers;
  std::vector<uint64_t> calls(clients, 0);
  for (uint32_t i = 0; i < clients; ++i) {
    workers.push_back(asio::co_spawn(executor, tokenize_until(*model, end, calls[i]), asio::deferred));
  }
  auto [order, failures] = co_await asio::experimental::make_parallel_group(std::move(workers))
                               .async_wait(asio::experimental::wait_for_all(), asio::use_awaitable);
  figures.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (const auto& failure : failures) {
    if (failure) std::rethrow_exception(failure);
  }
  for (const uint64_t n : calls) figures.calls += n;
  figures.slots_busy_throughout = model->stats().slots_busy == slots;
  for (const uint64_t n : generations->tokens) figures.generated_meanwhile += n;
  for (TokenStream& stream : generations->streams) stream.cancel();
  co_await model->close();
  co_return figures;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s MODEL.gguf SLOTS SECONDS CLIENTS\n", argv[0]);
    return 2;
  }
  const std::string model = argv[1];
  const auto slots = static_cast<uint32_t>(std::strtoul(argv[2], nullptr, 10));
  const int seconds = std::atoi(argv[3]);
  const auto clients = static_cast<uint32_t>(std::strtoul(argv[4], nullptr, 10));
  if (slots == 0 || seconds <= 0 || clients == 0) {
    std::fprintf(stderr, "tokenize_probe: SLOTS, SECONDS and CLIENTS must be positive\n");
    return 2;
  }
  try {
    Registry registry;
    registry.load_plugin(std::filesystem::path(INFERENCE_PLUGIN_DIR) / "libbackend_llama_cpp.so");
    asio::io_context io(1);
    auto done = asio::co_spawn(io, measure(registry, model, slots, seconds, clients), asio::use_future);
    io.run();
    const Figures figures = done.get();
    std::printf(
        "tokenize_per_s=%.1f calls=%llu seconds=%.2f clients=%u slots=%u slots_busy_throughout=%d "
        "generated_tok_s_meanwhile=%.1f\n",
        static_cast<double>(figures.calls) / figures.seconds, static_cast<unsigned long long>(figures.calls),
        figures.seconds, clients, slots, figures.slots_busy_throughout ? 1 : 0,
        static_cast<double>(figures.generated_meanwhile) / figures.seconds);
    return figures.slots_busy_throughout ? 0 : 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "tokenize_probe: %s\n", e.what());
  }
  return 1;
}
