// TokenStream::next(token): the stream read with any Asio completion token, as a socket read
// is: as_tuple(use_awaitable), deferred, use_future and plain callbacks, whose handler never
// runs inside the call that started it.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <exception>
#include <future>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "inference/error.hpp"
#include "inference/token_stream.hpp"
#include "stub_model.hpp"
#include "stub_vocabulary.hpp"
#include "support/caught_code.hpp"
#include "support/run_async.hpp"

namespace inference {
namespace {

namespace asio = boost::asio;
using testing::caught_code;
using testing::run_async;

constexpr int kTokens = 6;

std::shared_ptr<TextModel> make_stub(asio::any_io_executor ex, std::map<std::string, std::string> stub_options = {}) {
  LoadOptions options;
  options.backend_options = std::move(stub_options);
  return std::make_shared<stub::StubModel>(ex, "stub", options, stub::parse_stub_options(options.backend_options));
}

GenerateConfig tokens(int n) {
  GenerateConfig config;
  config.max_tokens = n;
  return config;
}

std::vector<int32_t> expected_ids(const std::string& prompt, int count) {
  std::vector<int32_t> ids;
  const uint64_t seed = stub::sequence_seed(prompt, 0);
  for (int i = 0; i < count; ++i) ids.push_back(stub::token_at(seed, static_cast<uint64_t>(i)).id);
  return ids;
}

asio::awaitable<void> yield_a_few(int n = 20) {
  for (int i = 0; i < n; ++i) co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
}

// Every token of the generation is buffered: the producer has finished.
asio::awaitable<void> until_all_buffered(const TextModel& model, uint64_t count) {
  while (model.stats().tokens_served < count) co_await yield_a_few(1);
  co_await yield_a_few();
}

TEST(TokenStreamCompletionToken, AsTupleGivesTokensThenTheErrorWithoutThrowing) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, {{"fail_after_tokens", "3"}, {"fail_code", "child_error"}});
    auto stream = model->generate("p", tokens(kTokens));
    std::vector<int32_t> ids;
    for (;;) {
      auto [error, token] = co_await stream.next(asio::as_tuple(asio::use_awaitable));
      if (error) {
        EXPECT_EQ(caught_code(error), errc::child_error);
        break;
      }
      if (!token) break;
      ids.push_back(token->id);
    }
    EXPECT_EQ(ids, expected_ids("p", 3));
    EXPECT_EQ(stream.result().error, make_error_code(errc::child_error));
  });
}

TEST(TokenStreamCompletionToken, DeferredStartsNothingUntilLaunched) {
  run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    auto stream = model->generate("p", tokens(kTokens));
    auto read_later = stream.next(asio::deferred);
    // Not launched, so not pending: another read is no concurrent read.
    auto first = co_await stream.next();
    auto second = co_await std::move(read_later)(asio::use_awaitable);
    EXPECT_TRUE(first && second);
    if (!first || !second) co_return;
    const std::vector<int32_t> ids{first->id, second->id};
    EXPECT_EQ(ids, expected_ids("p", 2));
  });
}

TEST(TokenStreamCompletionToken, UseFutureReadsFromAThreadOutsideTheIoContext) {
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread runner([&io] { io.run(); });
  auto model = make_stub(io.get_executor());
  auto stream = model->generate("p", tokens(kTokens));
  std::vector<int32_t> ids;
  while (std::optional<Token> token = stream.next(asio::use_future).get()) ids.push_back(token->id);
  EXPECT_EQ(ids, expected_ids("p", kTokens));
  EXPECT_EQ(stream.result().finish_reason, FinishReason::length);
  asio::post(io, [&work] { work.reset(); });
  runner.join();
}

TEST(TokenStreamCompletionToken, UseFutureRethrowsTheStreamsError) {
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread runner([&io] { io.run(); });
  auto model = make_stub(io.get_executor(), {{"fail_after_tokens", "0"}, {"fail_code", "child_exited"}});
  auto stream = model->generate("p", tokens(kTokens));
  // Shared, and held past the catch: this thread keeps the last reference to the result, so the
  // exception is freed here. Otherwise the executor's thread may free it after our read, ordered
  // only by libstdc++'s uninstrumented reference count, which TSan reports as a race.
  std::shared_future<std::optional<Token>> next = stream.next(asio::use_future).share();
  try {
    auto token = next.get();
    ADD_FAILURE() << "expected child_exited, got a token: " << token.has_value();
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::child_exited)) << e.what();
  }
  asio::post(io, [&work] { work.reset(); });
  runner.join();
}

// Reads the whole stream by a callback that starts the next read from inside itself; records
// whether any callback ran inside the next() call that started it, and how deep they nested.
struct CallbackReader {
  TokenStream* stream = nullptr;
  bool inside_next = false;
  bool ran_inline = false;
  int depth = 0;
  int max_depth = 0;
  std::vector<int32_t> ids;
  bool ended = false;

  void read() {
    inside_next = true;
    stream->next([this](std::exception_ptr error, std::optional<Token> token) { on_token(error, std::move(token)); });
    inside_next = false;
  }

  void on_token(std::exception_ptr error, std::optional<Token> token) {
    ran_inline = ran_inline || inside_next;
    ++depth;
    max_depth = std::max(max_depth, depth);
    EXPECT_FALSE(error);
    if (token) {
      ids.push_back(token->id);
      read();
    } else {
      ended = true;
    }
    --depth;
  }
};

TEST(TokenStreamCompletionToken, CallbackIsNeverRunInsideNextEvenWithTokensBuffered) {
  run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    auto stream = model->generate("p", tokens(kTokens));
    co_await until_all_buffered(*model, kTokens);  // every read below could complete at once
    CallbackReader reader;
    reader.stream = &stream;
    reader.read();
    while (!reader.ended) co_await yield_a_few(1);
    EXPECT_FALSE(reader.ran_inline);
    EXPECT_EQ(reader.max_depth, 1) << "a callback ran inside the callback that asked for the next token";
    EXPECT_EQ(reader.ids, expected_ids("p", kTokens));
  });
}

TEST(TokenStreamCompletionToken, CallbackBoundToAnExecutorRunsThere) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex);
    auto stream = model->generate("p", tokens(1));
    auto strand = asio::make_strand(ex);
    bool on_strand = false;
    bool done = false;
    stream.next(asio::bind_executor(strand, [&](std::exception_ptr, std::optional<Token>) {
      on_strand = strand.running_in_this_thread();
      done = true;
    }));
    while (!done) co_await yield_a_few(1);
    EXPECT_TRUE(on_strand);
  });
}

TEST(TokenStreamCompletionToken, CancellingACallbacksSlotCancelsTheStream) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, {{"hang_after_tokens", "0"}});
    auto stream = model->generate("p", tokens(kTokens));
    asio::cancellation_signal cancel;
    std::optional<errc> outcome;
    stream.next(asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr error, std::optional<Token>) {
      outcome = error ? caught_code(error) : errc::internal_error;
    }));
    co_await yield_a_few();
    cancel.emit(asio::cancellation_type::terminal);
    while (!outcome) co_await yield_a_few(1);
    EXPECT_EQ(*outcome, errc::cancelled);
    EXPECT_EQ(stream.result().finish_reason, FinishReason::cancelled);
  });
}

TEST(TokenStreamCompletionToken, SecondPendingReadFailsAtOnceWithConcurrentNext) {
  run_async([]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, {{"hang_after_tokens", "0"}});
    auto stream = model->generate("p", tokens(kTokens));
    std::optional<std::exception_ptr> first;
    stream.next([&](std::exception_ptr error, std::optional<Token>) { first = error; });
    auto [error, token] = co_await stream.next(asio::as_tuple(asio::use_awaitable));
    EXPECT_TRUE(error && caught_code(error) == errc::concurrent_next);
    EXPECT_FALSE(token.has_value());
    EXPECT_FALSE(first.has_value()) << "the first read is still pending";
    stream.cancel();
    while (!first) co_await yield_a_few(1);
    EXPECT_FALSE(*first) << "the first read ends quietly with the cancelled stream";
  });
}

TEST(TokenStreamCompletionToken, AnEmptyStreamCompletesACallbackWithTheEnd) {
  run_async([]() -> asio::awaitable<void> {
    TokenStream empty;
    std::atomic<bool> ended{false};
    empty.next([&](std::exception_ptr error, std::optional<Token> token) { ended = !error && !token; });
    auto [error, token] = co_await empty.next(asio::as_tuple(asio::use_awaitable));
    EXPECT_FALSE(error);
    EXPECT_FALSE(token.has_value());
    // A stream without a producer has no executor of its own: the callback ran on the system
    // executor's thread.
    while (!ended) co_await yield_a_few(1);
  });
}

}  // namespace
}  // namespace inference
