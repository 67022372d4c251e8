// TokenStream and the stream machinery (spawn_stream, backpressure, cancellation, deadlines),
// driven through the stub model in-process with the core SlotPool, as a real backend would be.
#include "inference/token_stream.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <string>

#include "inference/error.hpp"
#include "inference/stream_producer.hpp"
#include "stub_model.hpp"
#include "stub_vocabulary.hpp"
#include "support/run_async.hpp"

namespace inference {
namespace {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;
using testing::run_async;

std::shared_ptr<TextModel> make_stub(asio::any_io_executor ex, LoadOptions options,
                                     std::map<std::string, std::string> stub_options = {}) {
  options.backend_options = std::move(stub_options);
  return std::make_shared<stub::StubModel>(ex, "stub", options, stub::parse_stub_options(options.backend_options));
}

asio::awaitable<void> yield_a_few(int n = 20) {
  for (int i = 0; i < n; ++i) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

// The tokens the stub must produce for a prompt and seed.
std::vector<Token> expected_tokens(const std::string& prompt, uint64_t seed, int count) {
  std::vector<Token> out;
  const uint64_t s = stub::sequence_seed(prompt, seed);
  for (int i = 0; i < count; ++i) out.push_back(stub::token_at(s, static_cast<uint64_t>(i)));
  return out;
}

LoadOptions slots(uint32_t n, uint32_t queue_limit = kDefaultQueueLimit) {
  LoadOptions o;
  o.parallel_slots = n;
  o.queue_limit = queue_limit;
  return o;
}

GenerateConfig tokens(int n) {
  GenerateConfig c;
  c.max_tokens = n;
  return c;
}

TEST(TokenStream, YieldsTheDeterministicTokensThenEndsWithLength) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, {});
    auto cfg = tokens(12);
    cfg.seed = 7;
    auto stream = model->generate("hello world", cfg);
    std::vector<Token> got;
    while (auto t = co_await stream.next()) got.push_back(*t);
    const auto want = expected_tokens("hello world", 7, 12);
    EXPECT_EQ(got.size(), want.size());
    if (got.size() != want.size()) co_return;
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].id, want[i].id);
      EXPECT_EQ(got[i].text, want[i].text);
    }
    EXPECT_TRUE(stream.finished());
    const auto result = stream.result();
    EXPECT_EQ(result.finish_reason, FinishReason::length);
    EXPECT_EQ(result.metrics.generated_tokens, 12u);
    EXPECT_EQ(result.metrics.prompt_tokens, 2u);
    EXPECT_GT(result.metrics.total_time.count(), 0);
    auto got1 = co_await stream.next();
    EXPECT_FALSE(got1.has_value()) << "next() after the end keeps returning the end";
  });
}

TEST(TokenStream, ThousandConcurrentStreamsOnFourThreadsNeverExceedFourInFlight) {
  constexpr int kStreams = 1000;
  constexpr int kTokens = 16;
  std::atomic<int> correct{0};
  std::atomic<int> wrong{0};
  std::shared_ptr<TextModel> model;
  run_async(
      [&]() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        model = make_stub(ex, slots(4, kStreams));
        for (int i = 0; i < kStreams; ++i) {
          asio::co_spawn(
              ex,
              [&, i]() -> asio::awaitable<void> {
                const std::string prompt = "prompt " + std::to_string(i);
                auto stream = model->generate(prompt, tokens(kTokens));
                const auto want = expected_tokens(prompt, 0, kTokens);
                size_t n = 0;
                bool ok = true;
                while (auto t = co_await stream.next()) {
                  ok = ok && n < want.size() && t->id == want[n].id && t->text == want[n].text;
                  ++n;
                }
                ok = ok && n == want.size() && stream.result().finish_reason == FinishReason::length;
                ++(ok ? correct : wrong);
              },
              asio::detached);
        }
        co_return;
      },
      4);
  EXPECT_EQ(correct.load(), kStreams);
  EXPECT_EQ(wrong.load(), 0);
  const auto stats = model->stats();
  EXPECT_LE(stats.max_in_flight, 4u);
  EXPECT_EQ(stats.requests_total, static_cast<uint64_t>(kStreams));
  EXPECT_EQ(stats.slots_busy, 0u);
  EXPECT_EQ(stats.tokens_served, static_cast<uint64_t>(kStreams * kTokens));
}

TEST(TokenStream, CancelOfQueuedAndDestructionOfRunningFreeTheSlot) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, slots(1), {{"hang_after_tokens", "1"}});
    auto running = std::make_unique<TokenStream>(model->generate("a", tokens(5)));
    auto first = co_await running->next();  // one token, then it hangs holding the only slot
    EXPECT_TRUE(first.has_value());
    auto queued = model->generate("b", tokens(5));
    co_await yield_a_few();
    EXPECT_EQ(model->stats().queue_depth, 1u);
    queued.cancel();
    co_await yield_a_few();
    EXPECT_EQ(model->stats().queue_depth, 0u) << "a cancelled waiter must leave the queue";
    auto got2 = co_await queued.next();
    EXPECT_FALSE(got2.has_value());
    EXPECT_EQ(queued.result().finish_reason, FinishReason::cancelled);

    auto next = model->generate("c", tokens(1));
    co_await yield_a_few();
    EXPECT_EQ(model->stats().queue_depth, 1u);
    running.reset();  // destruction cancels the running stream and frees its slot
    auto token = co_await next.next();
    EXPECT_TRUE(token.has_value()) << "the freed slot went to the next request";
  });
}

TEST(TokenStream, CancelOfRunningStreamEndsItQuietly) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, slots(1), {{"token_delay_us", "1000"}});
    auto stream = model->generate("a", tokens(1000));
    auto got3 = co_await stream.next();
    EXPECT_TRUE(got3.has_value());
    stream.cancel();
    auto got4 = co_await stream.next();
    EXPECT_FALSE(got4.has_value());
    EXPECT_EQ(stream.result().finish_reason, FinishReason::cancelled);
    co_await yield_a_few();
    EXPECT_EQ(model->stats().slots_busy, 0u);
  });
}

TEST(TokenStream, AsioCancellationOfNextCancelsTheStream) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, slots(1), {{"hang_after_tokens", "0"}});
    auto stream = model->generate("a", tokens(5));
    asio::steady_timer timer(ex, std::chrono::milliseconds(20));
    auto winner = co_await (stream.next() || timer.async_wait(asio::use_awaitable));
    EXPECT_EQ(winner.index(), 1u) << "the timer should win against a hung stream";
    EXPECT_EQ(stream.result().finish_reason, FinishReason::cancelled);
    // The slot is free again: a new request runs.
    auto next = model->generate("b", tokens(1));
    co_await yield_a_few();
    EXPECT_EQ(model->stats().queue_depth, 0u);
  });
}

TEST(TokenStream, FullQueueGivesOverloaded) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, slots(1, 1), {{"hang_after_tokens", "0"}});
    auto a = model->generate("a", tokens(5));
    co_await yield_a_few();
    auto b = model->generate("b", tokens(5));
    co_await yield_a_few();
    auto c = model->generate("c", tokens(5));
    try {
      co_await c.next();
      ADD_FAILURE() << "expected overloaded";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::overloaded)) << e.what();
    }
    EXPECT_EQ(c.result().finish_reason, FinishReason::error);
    EXPECT_EQ(c.result().error, make_error_code(errc::overloaded));
    EXPECT_EQ(model->stats().requests_rejected, 1u);
  });
}

TEST(TokenStream, DeadlineWhileRunningGivesDeadlineExceeded) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, {}, {{"hang_after_tokens", "2"}});
    auto cfg = tokens(10);
    cfg.with_timeout(std::chrono::milliseconds(30));
    auto stream = model->generate("a", cfg);
    int received = 0;
    try {
      while (co_await stream.next()) ++received;
      ADD_FAILURE() << "expected deadline_exceeded";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::deadline_exceeded)) << e.what();
    }
    EXPECT_EQ(received, 2) << "tokens produced before the deadline are delivered first";
    EXPECT_EQ(stream.result().finish_reason, FinishReason::error);
    EXPECT_EQ(stream.result().error, make_error_code(errc::deadline_exceeded));
    co_await yield_a_few();
    EXPECT_EQ(model->stats().slots_busy, 0u);
  });
}

TEST(TokenStream, DeadlineWhileQueuedGivesDeadlineExceededAndLeavesTheQueue) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, slots(1), {{"hang_after_tokens", "0"}});
    auto blocker = model->generate("a", tokens(5));
    auto cfg = tokens(5);
    cfg.with_timeout(std::chrono::milliseconds(20));
    auto queued = model->generate("b", cfg);
    bool threw = false;
    try {
      co_await queued.next();
    } catch (const Error&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
    EXPECT_EQ(queued.result().error, make_error_code(errc::deadline_exceeded));
    co_await yield_a_few();
    EXPECT_EQ(model->stats().queue_depth, 0u);
  });
}

TEST(TokenStream, FailAfterTokensSurfacesTheConfiguredError) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, {}, {{"fail_after_tokens", "3"}, {"fail_code", "child_error"}});
    auto stream = model->generate("a", tokens(10));
    int received = 0;
    try {
      while (co_await stream.next()) ++received;
      ADD_FAILURE() << "expected child_error";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::child_error)) << e.what();
    }
    EXPECT_EQ(received, 3);
    EXPECT_EQ(stream.result().finish_reason, FinishReason::error);
  });
}

TEST(TokenStream, CrashFailsEveryInFlightStreamWithServerExited) {
  std::atomic<int> exited{0};
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, slots(4), {{"crash_after_tokens", "10"}, {"token_delay_us", "200"}});
    std::vector<TokenStream> streams;
    for (int i = 0; i < 4; ++i) streams.push_back(model->generate("p" + std::to_string(i), tokens(1000)));
    for (auto& s : streams) {
      try {
        while (co_await s.next()) {
        }
      } catch (const Error& e) {
        if (e.is(errc::child_exited)) ++exited;
      }
    }
  });
  EXPECT_EQ(exited.load(), 4);
}

TEST(TokenStream, AFailuresDetailReachesTheThrownErrorAndTheResult) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    const std::string tail = "last line but one\nlast line";
    auto model = make_stub(ex, {}, {{"fail_after_tokens", "1"}, {"fail_code", "child_exited"}, {"fail_detail", tail}});
    auto stream = model->generate("a", tokens(10));
    try {
      while (co_await stream.next()) {
      }
      ADD_FAILURE() << "expected child_exited";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::child_exited)) << e.what();
      EXPECT_EQ(e.detail(), tail);
      EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos) << e.what();
    }
    const GenerateResult result = stream.result();
    EXPECT_EQ(result.error_detail, tail);
    EXPECT_EQ(result.error_message.find('\n'), std::string::npos) << result.error_message;
  });
}

TEST(TokenStream, SecondConcurrentNextFailsAtOnceAndTheFirstReaderStillGetsItsToken) {
  testing::run_bounded(
      []() -> asio::awaitable<void> {
        auto ex = co_await asio::this_coro::executor;
        // The producer sends its one token only when the test opens the gate.
        auto gate = std::make_shared<asio::steady_timer>(ex, asio::steady_timer::time_point::max());
        auto stream = spawn_stream(ex, StreamOptions(), [gate](StreamWriter& writer) -> asio::awaitable<FinishReason> {
          co_await gate->async_wait(asio::as_tuple(asio::use_awaitable));
          Token token;
          token.id = 7;
          co_await writer.push(std::move(token));
          co_return FinishReason::length;
        });
        std::optional<std::optional<Token>> first;  // what the first reader got, once it got it
        asio::co_spawn(
            ex, [&]() -> asio::awaitable<void> { first = co_await stream.next(); }, asio::detached);
        co_await yield_a_few();
        try {
          auto second = co_await stream.next();
          ADD_FAILURE() << "a second next() while one is pending returned " << second.has_value();
        } catch (const Error& e) {
          EXPECT_TRUE(e.is(errc::concurrent_next)) << e.what();
        }
        EXPECT_FALSE(first.has_value()) << "the first reader is still waiting";
        gate->cancel();
        while (!first) co_await yield_a_few(1);
        EXPECT_TRUE(first->has_value() && (*first)->id == 7);
        auto end = co_await stream.next();
        EXPECT_FALSE(end.has_value());
        EXPECT_EQ(stream.result().finish_reason, FinishReason::length);
      },
      1, std::chrono::seconds(30));
}

TEST(TokenStream, StopTokenEndsWithStop) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, {});
    const auto want = expected_tokens("p", 0, 10);
    auto cfg = tokens(10);
    // The first position whose id did not appear earlier, so the stop is unambiguous.
    size_t stop_at = 1;
    while (stop_at < want.size()) {
      bool seen = false;
      for (size_t j = 0; j < stop_at; ++j) seen = seen || want[j].id == want[stop_at].id;
      if (!seen) break;
      ++stop_at;
    }
    cfg.stop_tokens = {want[stop_at].id};
    auto stream = model->generate("p", cfg);
    size_t n = 0;
    while (co_await stream.next()) ++n;
    EXPECT_EQ(n, stop_at);
    EXPECT_EQ(stream.result().finish_reason, FinishReason::stop);
  });
}

TEST(TokenStream, SlowReaderHoldsTheProducerAtTheBufferLimit) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, [] {
      LoadOptions o;
      o.stream_buffer_tokens = 8;
      return o;
    }());
    auto stream = model->generate("p", tokens(10000));
    auto got5 = co_await stream.next();
    EXPECT_TRUE(got5.has_value());
    co_await yield_a_few(200);
    EXPECT_LE(model->stats().tokens_served, 9u) << "the producer ran ahead of the bounded buffer";
    int n = 1;
    while (co_await stream.next()) ++n;
    EXPECT_EQ(n, 10000);
  });
}

TEST(TokenStream, BatchGenerateRunsAllPromptsAndKeepsOrder) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    // A per-token delay keeps each request running long enough for the others to overlap it.
    auto model = make_stub(ex, slots(4), {{"token_delay_us", "2000"}});
    const std::vector<std::string> prompts{"a", "b", "c", "d", "e", "f"};
    auto results = co_await model->batch_generate(prompts, tokens(4));
    EXPECT_EQ(results.size(), 6u);
    if (results.size() != 6u) co_return;
    for (size_t i = 0; i < results.size(); ++i) {
      const auto want = expected_tokens(prompts[i], 0, 4);
      EXPECT_EQ(results[i].tokens.size(), 4u);
      if (results[i].tokens.size() != 4u) co_return;
      EXPECT_EQ(results[i].tokens[0].id, want[0].id);
      EXPECT_EQ(results[i].result.finish_reason, FinishReason::length);
    }
    EXPECT_EQ(model->stats().max_in_flight, 4u) << "batch prompts must share the slots in parallel";
  });
}

TEST(TokenStream, ClassifyReturnsOneTokenPerPrompt) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, {});
    const std::vector<std::string> prompts{"x", "y"};
    auto results = co_await model->classify(prompts, GenerateConfig{});
    EXPECT_EQ(results.size(), 2u);
    if (results.size() != 2u) co_return;
    EXPECT_EQ(results[0].token.id, expected_tokens("x", 0, 1)[0].id);
    EXPECT_EQ(results[0].result.metrics.generated_tokens, 1u);
  });
}

TEST(TokenStream, ClosedModelRefusesNewStreams) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, {});
    co_await model->close();
    auto stream = model->generate("p", tokens(1));
    bool threw = false;
    try {
      co_await stream.next();
    } catch (const Error&) {
      threw = true;
    }
    EXPECT_TRUE(threw);
    EXPECT_EQ(stream.result().error, make_error_code(errc::closed));
  });
}

TEST(TokenStream, EmptyStreamEndsAtOnce) {
  run_async([]() -> asio::awaitable<void> {
    TokenStream empty;
    auto got6 = co_await empty.next();
    EXPECT_FALSE(got6.has_value());
  });
}

}  // namespace
}  // namespace inference
