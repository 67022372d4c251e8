// LlamaServerModel against the real llama-server: generation, chat, concurrency over the
// server's slots as the server itself reports it, cancellation, session affinity, stop
// conditions and log-probabilities.
#include <gtest/gtest.h>

#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "llama_cpp_fixture.hpp"
#include "stream_helpers.hpp"

namespace inference::llama_cpp::test {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// A slot context small enough that short tests load instantly.
constexpr uint32_t kShortContextPerSlot = 256;
constexpr int32_t kShortGeneration = 8;
// Enough to keep a slot busy until the test ends it: the generation runs into the context.
constexpr int32_t kUntilContextFull = 1'000'000;
constexpr int kStreams = 64;
constexpr int32_t kTop = 3;

GenerateConfig greedy(int32_t max_tokens) {
  GenerateConfig config;
  config.max_tokens = max_tokens;
  config.temperature = 0.0F;
  return config;
}

LoadOptions with_ignore_eos(LoadOptions options) {
  options.backend_options["ignore_eos"] = "1";
  return options;
}

TEST(LlamaCppModelTest, GenerateStreamsRealTokenIds) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    const uint64_t vocab = model->info().vocab_size;
    TokenStream stream = model->generate("Hello", greedy(kShortGeneration));
    std::vector<Token> tokens = co_await drain(stream);
    EXPECT_FALSE(tokens.empty());
    EXPECT_LE(tokens.size(), static_cast<std::size_t>(kShortGeneration));
    for (const auto& token : tokens) {
      EXPECT_GE(token.id, 0);
      EXPECT_LT(static_cast<uint64_t>(token.id), vocab);
    }
    const GenerateResult result = stream.result();
    EXPECT_TRUE(result.finish_reason == FinishReason::length || result.finish_reason == FinishReason::eos);
    EXPECT_GT(result.metrics.prompt_tokens, 0U);
    EXPECT_EQ(model->model_type(), "llama");
    co_await model->close();
  });
}

// Issue 16, "defaults that fit": without context_len the CPU build gets the largest context that
// fits the host's memory, for the tiny model its whole training context per slot. The engine
// asked llama-server for exactly that and checked it in /props before the load returned.
TEST(LlamaCppModelTest, ContextLenUnsetServesTheChosenContextAndSaysWhy) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, 0));
    const ModelInfo info = model->info();
    EXPECT_EQ(info.serving_context_per_slot, info.context_length);
    EXPECT_EQ(info.serving_context_reason.rfind(std::to_string(info.context_length) + " tokens per slot (4 slots): " +
                                                    "the model's whole training context fits the host",
                                                0),
              0U)
        << info.serving_context_reason;
    EXPECT_EQ(info.serving_device, "CPU");
    TokenStream stream = model->generate("Hello", greedy(kShortGeneration));
    EXPECT_FALSE((co_await drain(stream)).empty());
    co_await model->close();
  });
}

TEST(LlamaCppModelTest, AskedContextIsReportedAsAsked) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    EXPECT_EQ(model->info().serving_context_per_slot, kShortContextPerSlot);
    EXPECT_EQ(model->info().serving_context_reason, "asked (context_len=256)");
    co_await model->close();
  });
}

TEST(LlamaCppModelTest, ChatStreamsRealTokenIds) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    std::vector<Message> messages;
    messages.push_back(Message{"system", "Be brief."});
    messages.push_back(Message{"user", "Hi"});
    TokenStream stream = model->chat(std::move(messages), greedy(kShortGeneration));
    std::vector<Token> tokens = co_await drain(stream);
    EXPECT_FALSE(tokens.empty());
    for (const auto& token : tokens) EXPECT_GE(token.id, 0);
    const GenerateResult result = stream.result();
    // The rendered template is several tokens long, unlike the bare text "Hi".
    EXPECT_GT(result.metrics.prompt_tokens, 4U);
    co_await model->close();
  });
}

TEST(LlamaCppModelTest, SixtyFourStreamsOverFourSlotsNeverRunMoreThanFourOnTheServer) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(with_ignore_eos(tiny_options(kTestSlots, kShortContextPerSlot)));
    auto sampler = SlotSampler::start(co_await asio::this_coro::executor, endpoint_of(*model));
    std::vector<TokenStream> streams;
    for (int i = 0; i < kStreams; ++i) {
      streams.push_back(model->generate("Stream number " + std::to_string(i), greedy(kShortGeneration)));
    }
    // The streams run on their own; consuming them one after the other only collects results.
    int completed = 0;
    for (auto& stream : streams) {
      std::vector<Token> tokens = co_await drain(stream);
      if (stream.result().finish_reason == FinishReason::length &&
          tokens.size() == static_cast<std::size_t>(kShortGeneration)) {
        ++completed;
      }
    }
    co_await sampler->stop();
    EXPECT_EQ(completed, kStreams);
    EXPECT_GT(sampler->samples(), 0);
    EXPECT_GE(sampler->max_processing(), 1) << "the sampler never saw a busy slot";
    EXPECT_LE(sampler->max_processing(), static_cast<int>(kTestSlots));
    const ModelStats stats = model->stats();
    EXPECT_EQ(stats.requests_total, static_cast<uint64_t>(kStreams));
    EXPECT_LE(stats.max_in_flight, kTestSlots);
    std::printf("[ MEASURE  ] /slots sampled %d times; at most %d slots processing at once\n", sampler->samples(),
                sampler->max_processing());
    co_await model->close();
  });
}

TEST(LlamaCppModelTest, CancellingARunningStreamFreesItsServerSlot) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(with_ignore_eos(tiny_options()));
    const ServerEndpoint endpoint = endpoint_of(*model);
    TokenStream stream = model->generate("Keep going", greedy(kUntilContextFull));
    std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first.has_value());
    const int busy_before = co_await slots_processing(endpoint);
    EXPECT_EQ(busy_before, 1);

    const auto cancelled_at = Clock::now();
    stream.cancel();
    // Back-to-back GET /slots until the server reports the slot idle.
    std::optional<Clock::duration> idle_after;
    while (!idle_after && Clock::now() - cancelled_at < kConditionDeadline) {
      const int busy = co_await slots_processing(endpoint);
      if (busy == 0) idle_after = Clock::now() - cancelled_at;
    }
    EXPECT_TRUE(idle_after.has_value()) << "the server kept the cancelled request's slot busy";
    if (idle_after) {
      std::printf("[ MEASURE  ] cancel() -> /slots idle: %.1f ms\n",
                  std::chrono::duration<double, std::milli>(*idle_after).count());
    }
    std::optional<Token> after = co_await stream.next();
    EXPECT_FALSE(after.has_value());
    EXPECT_EQ(stream.result().finish_reason, FinishReason::cancelled);
    const bool pool_free = co_await wait_until([&] { return model->stats().slots_busy == 0; });
    EXPECT_TRUE(pool_free);
    // The slot serves again.
    TokenStream next = model->generate("Again", greedy(kShortGeneration));
    std::vector<Token> tokens = co_await drain(next);
    EXPECT_EQ(tokens.size(), static_cast<std::size_t>(kShortGeneration));
    co_await model->close();
  });
}

TEST(LlamaCppModelTest, CancellingAQueuedStreamLeavesTheQueueAndTheServerUntouched) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(with_ignore_eos(tiny_options(1, kLongContextPerSlot)));
    const ServerEndpoint endpoint = endpoint_of(*model);
    TokenStream running = model->generate("Running", greedy(kUntilContextFull));
    std::optional<Token> first = co_await running.next();
    EXPECT_TRUE(first.has_value());
    TokenStream queued = model->generate("Queued", greedy(kShortGeneration));
    const bool is_queued = co_await wait_until([&] { return model->stats().queue_depth == 1; });
    EXPECT_TRUE(is_queued);

    queued.cancel();
    const bool left_queue = co_await wait_until([&] { return model->stats().queue_depth == 0; });
    EXPECT_TRUE(left_queue);
    std::optional<Token> none = co_await queued.next();
    EXPECT_FALSE(none.has_value());
    EXPECT_EQ(queued.result().finish_reason, FinishReason::cancelled);
    // The running stream still owns the only slot on the server.
    const int busy = co_await slots_processing(endpoint);
    EXPECT_EQ(busy, 1);

    running.cancel();
    bool idle = false;
    const auto deadline = Clock::now() + kConditionDeadline;
    while (!idle && Clock::now() < deadline) {
      const int still_busy = co_await slots_processing(endpoint);
      idle = still_busy == 0;
    }
    EXPECT_TRUE(idle);
    TokenStream after = model->generate("After", greedy(kShortGeneration));
    std::vector<Token> tokens = co_await drain(after);
    EXPECT_EQ(tokens.size(), static_cast<std::size_t>(kShortGeneration));
    co_await model->close();
  });
}

TEST(LlamaCppModelTest, SecondTurnOfASessionReusesTheCachedPrompt) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    const std::string first_turn = "The quick brown fox jumps over the lazy dog.";
    GenerateConfig config = greedy(kShortGeneration);
    config.session = "conversation-1";
    TokenStream first = model->generate(first_turn, config);
    std::vector<Token> first_tokens = co_await drain(first);
    std::string reply;
    for (const auto& token : first_tokens) reply += token.text;
    // A request of another session in between must not take the conversation's slot away.
    GenerateConfig other = greedy(kShortGeneration);
    other.session = "conversation-2";
    TokenStream unrelated = model->generate("Something else entirely", other);
    std::vector<Token> unrelated_tokens = co_await drain(unrelated);
    (void)unrelated_tokens;

    TokenStream second = model->generate(first_turn + reply + " And then?", config);
    std::vector<Token> second_tokens = co_await drain(second);
    (void)second_tokens;
    const GenerateResult result = second.result();
    EXPECT_GT(result.metrics.cached_prompt_tokens, 0U);
    EXPECT_GE(model->stats().requests_total, 3U);
    co_await model->close();
  });
}

TEST(LlamaCppModelTest, StopStringEndsTheStreamWithStop) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(with_ignore_eos(tiny_options(kTestSlots, kShortContextPerSlot)));
    GenerateConfig config = greedy(kShortGeneration);
    config.seed = 42;
    TokenStream probe = model->generate("Hello", config);
    std::vector<Token> reference = co_await drain(probe);
    // The greedy continuation is deterministic: stop at the text of its third token.
    std::string stop;
    for (std::size_t i = 2; i < reference.size() && stop.empty(); ++i) stop = reference[i].text;
    EXPECT_FALSE(stop.empty()) << "the reference generation has no usable text";
    config.stop.push_back(stop);
    TokenStream stream = model->generate("Hello", config);
    std::vector<Token> tokens = co_await drain(stream);
    EXPECT_LT(tokens.size(), reference.size());
    EXPECT_EQ(stream.result().finish_reason, FinishReason::stop);
    co_await model->close();
  });
}

TEST(LlamaCppModelTest, StopTokenEndsTheStreamWithStopBeforeThatToken) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(with_ignore_eos(tiny_options(kTestSlots, kShortContextPerSlot)));
    GenerateConfig config = greedy(kShortGeneration);
    config.seed = 42;
    TokenStream probe = model->generate("Hello", config);
    std::vector<Token> reference = co_await drain(probe);
    EXPECT_GE(reference.size(), 3U);
    if (reference.size() < 3) co_return;
    const int32_t stop_id = reference[2].id;
    std::size_t expected = 0;
    while (reference[expected].id != stop_id) ++expected;
    config.stop_tokens.push_back(stop_id);
    TokenStream stream = model->generate("Hello", config);
    std::vector<Token> tokens = co_await drain(stream);
    EXPECT_EQ(tokens.size(), expected);
    for (const auto& token : tokens) EXPECT_NE(token.id, stop_id);
    EXPECT_EQ(stream.result().finish_reason, FinishReason::stop);
    // The slot was handed back once the server let go of it: the next request runs.
    TokenStream next = model->generate("Next", greedy(kShortGeneration));
    std::vector<Token> next_tokens = co_await drain(next);
    EXPECT_EQ(next_tokens.size(), static_cast<std::size_t>(kShortGeneration));
    co_await model->close();
  });
}

TEST(LlamaCppModelTest, LogprobsGiveTopAlternativesPerToken) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    GenerateConfig config = greedy(kShortGeneration);
    config.logprobs = kTop;
    TokenStream stream = model->generate("Hello", config);
    std::vector<Token> tokens = co_await drain(stream);
    EXPECT_FALSE(tokens.empty());
    for (const auto& token : tokens) {
      EXPECT_EQ(token.top.size(), static_cast<std::size_t>(kTop));
      for (const auto& alternative : token.top) {
        EXPECT_GE(alternative.id, 0);
        EXPECT_GE(alternative.probability, 0.0);
        EXPECT_LE(alternative.probability, 1.0);
      }
    }
    co_await model->close();
  });
}

}  // namespace
}  // namespace inference::llama_cpp::test
