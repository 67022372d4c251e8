// Tokens in and out against the real llama-server: tokenize()/detokenize() (which take no slot)
// and generate_tokens() (a prompt of ids), on the tiny model's 32,000-token SentencePiece vocabulary.
#include <gtest/gtest.h>
#include <signal.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "llama_cpp_fixture.hpp"
#include "stream_helpers.hpp"
#include "support/child_processes.hpp"
#include "support/greedy_config.hpp"

namespace inference::llama_cpp::test {
namespace {

namespace asio = boost::asio;
using inference::test::greedy;

constexpr uint32_t kShortContextPerSlot = 256;
constexpr int32_t kShortGeneration = 16;
// Keeps a slot generating until the test cancels it (ignore_eos; the context is far larger).
constexpr int32_t kUntilContextFull = 1'000'000;
constexpr int32_t kBos = 1;  // the tiny model's BOS
// Until the test's own cancellation: only ever ended by the timer below it.
constexpr std::chrono::milliseconds kCancelAfter{50};

std::vector<int32_t> ids_of(const std::vector<Token>& tokens) {
  std::vector<int32_t> ids;
  for (const Token& token : tokens) ids.push_back(token.id);
  return ids;
}

std::string pieces_of(const std::vector<Token>& tokens) {
  std::string text;
  for (const Token& token : tokens) text += token.text;
  return text;
}

LoadOptions with_ignore_eos(LoadOptions options) {
  options.backend_options["ignore_eos"] = "1";
  return options;
}

template <typename T>
asio::awaitable<std::optional<Error>> error_of(asio::awaitable<T> operation) {
  try {
    (void)co_await std::move(operation);
  } catch (const Error& e) {
    co_return e;
  }
  co_return std::nullopt;
}

TEST(LlamaCppTokensTest, TokenizeGivesIdsAndPiecesAndDetokenizeGivesTheTextBack) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    const std::vector<Token> plain = co_await model->tokenize("Hello world", false);
    EXPECT_EQ(ids_of(plain), (std::vector<int32_t>{15043, 3186}));
    EXPECT_EQ(pieces_of(plain), " Hello world");
    const std::vector<Token> special = co_await model->tokenize("Hello world", true);
    EXPECT_EQ(ids_of(special), (std::vector<int32_t>{kBos, 15043, 3186}));

    // Byte tokens (a character the vocabulary lacks) come back as their bytes.
    const std::string text = "caf\xC3\xA9 \xF0\x9F\xA4\x96 and more";
    const std::vector<Token> tokens = co_await model->tokenize(text, false);
    for (const Token& token : tokens) EXPECT_LT(static_cast<uint64_t>(token.id), model->info().vocab_size);
    const std::string back = co_await model->detokenize(ids_of(tokens));
    // The SentencePiece tokenizer puts a space before the text; the pieces are the text exactly.
    EXPECT_EQ(back, " " + text);
    EXPECT_EQ(pieces_of(tokens), back);
    EXPECT_EQ(model->stats().requests_total, 0U) << "tokenize() took a slot";
    co_await model->close();
  });
}

TEST(LlamaCppTokensTest, DetokenizeAndGenerateTokensRefuseIdsOutsideTheVocabularyBeforeAnyWork) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    const auto vocab = static_cast<int32_t>(model->info().vocab_size);
    std::vector<int32_t> outside{kBos, vocab};
    const std::optional<Error> detokenized = co_await error_of(model->detokenize(outside));
    EXPECT_TRUE(detokenized && detokenized->is(errc::invalid_argument))
        << (detokenized ? detokenized->what() : "no error");
    TokenStream generated = model->generate_tokens(outside, greedy(kShortGeneration));
    const std::optional<Error> refused = co_await drain_error(generated);
    EXPECT_TRUE(refused && refused->is(errc::invalid_argument)) << (refused ? refused->what() : "no error");
    if (refused) {
      EXPECT_NE(std::string(refused->what()).find(std::to_string(vocab)), std::string::npos) << refused->what();
    }
    TokenStream empty = model->generate_tokens({}, greedy(kShortGeneration));
    const std::optional<Error> nothing = co_await drain_error(empty);
    EXPECT_TRUE(nothing && nothing->is(errc::invalid_argument)) << (nothing ? nothing->what() : "no error");
    EXPECT_EQ(model->stats().requests_total, 0U) << "a refused request reached the slot queue";
    co_await model->close();
  });
}

TEST(LlamaCppTokensTest, GenerateTokensOfTheTokenizedPromptWithBosEqualsGenerateGreedily) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    const std::string prompt = "Once upon a time, in a quiet village";
    TokenStream from_text = model->generate(prompt, greedy(kShortGeneration));
    const std::vector<Token> text_tokens = co_await drain(from_text);
    // generate() lets the server add BOS; a prompt of ids is used as it is, so it carries its own.
    const std::vector<Token> prompt_tokens = co_await model->tokenize(prompt, true);
    TokenStream from_ids = model->generate_tokens(ids_of(prompt_tokens), greedy(kShortGeneration));
    const std::vector<Token> id_tokens = co_await drain(from_ids);
    EXPECT_EQ(text_tokens.size(), static_cast<std::size_t>(kShortGeneration));
    EXPECT_EQ(ids_of(id_tokens), ids_of(text_tokens));
    EXPECT_EQ(from_ids.result().metrics.prompt_tokens, prompt_tokens.size());
    co_await model->close();
  });
}

// Every slot generating and one more request queued: tokenize() and detokenize() still answer,
// and the generations are still running when they have.
TEST(LlamaCppTokensTest, TokenizeAnswersWhileEverySlotIsBusyGenerating) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(with_ignore_eos(tiny_options(kTestSlots, kLongContextPerSlot)));
    std::vector<TokenStream> streams;
    for (uint32_t i = 0; i < kTestSlots; ++i) {
      streams.push_back(model->generate("Busy slot " + std::to_string(i), greedy(kUntilContextFull)));
    }
    for (TokenStream& stream : streams) EXPECT_TRUE((co_await stream.next()).has_value());
    TokenStream queued = model->generate("Queued", greedy(kShortGeneration));
    EXPECT_EQ(co_await slots_processing(endpoint_of(*model)), static_cast<int>(kTestSlots));

    const std::vector<Token> tokens = co_await model->tokenize("Hello world", true);
    EXPECT_EQ(ids_of(tokens), (std::vector<int32_t>{kBos, 15043, 3186}));
    EXPECT_EQ(co_await model->detokenize(ids_of(tokens)), "<s> Hello world");

    // Answered while the four still generate (none can end before the test cancels it).
    EXPECT_EQ(co_await slots_processing(endpoint_of(*model)), static_cast<int>(kTestSlots));
    EXPECT_EQ(model->stats().slots_busy, kTestSlots);
    for (TokenStream& stream : streams) EXPECT_TRUE((co_await stream.next()).has_value());
    for (TokenStream& stream : streams) stream.cancel();
    EXPECT_EQ((co_await drain(queued)).size(), static_cast<std::size_t>(kShortGeneration));
    co_await model->close();
  });
}

// A stopped server never answers: the only way the call ends is the cancellation.
TEST(LlamaCppTokensTest, CancellingATokenizeThatTheServerDoesNotAnswerEndsItWithCancelled) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    const int pid = model->server_pid();
    // The whole process group: the installed llama-server is a wrapper that runs the binary.
    EXPECT_EQ(::kill(-pid, SIGSTOP), 0);
    EXPECT_TRUE(inference::test::wait_until_stopped(pid));  // kill() only queues the stop
    const auto executor = co_await asio::this_coro::executor;
    asio::steady_timer timer(executor, kCancelAfter);
    auto [order, tokenized, tokens, waited] =
        co_await asio::experimental::make_parallel_group(
            asio::co_spawn(executor, model->tokenize("Hello", false), asio::deferred), timer.async_wait(asio::deferred))
            .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
    EXPECT_EQ(::kill(-pid, SIGCONT), 0);
    EXPECT_EQ(order[0], 1U) << "the stopped server answered";
    std::optional<Error> error;
    try {
      if (tokenized) std::rethrow_exception(tokenized);
    } catch (const Error& e) {
      error = e;
    }
    EXPECT_TRUE(error && error->is(errc::cancelled)) << (error ? error->what() : "no error");
    // Not a server failure: no restart, and the next call is answered.
    EXPECT_EQ(model->server_pid(), pid);
    EXPECT_EQ((co_await model->tokenize("Hello", false)).size(), 1U);
    co_await model->close();
  });
}

TEST(LlamaCppTokensTest, TokenizeRefusesOversizedTextAndAClosedModel) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    const std::optional<Error> oversized =
        co_await error_of(model->tokenize(std::string(llama_server::kMaxTokenizeBytes + 1, 'a'), false));
    EXPECT_TRUE(oversized && oversized->is(errc::invalid_argument)) << (oversized ? oversized->what() : "no error");
    co_await model->close();
    const std::optional<Error> closed = co_await error_of(model->tokenize("Hello", false));
    EXPECT_TRUE(closed && closed->is(errc::closed)) << (closed ? closed->what() : "no error");
    std::vector<int32_t> bos(1, kBos);
    const std::optional<Error> closed_too = co_await error_of(model->detokenize(std::move(bos)));
    EXPECT_TRUE(closed_too && closed_too->is(errc::closed)) << (closed_too ? closed_too->what() : "no error");
  });
}

}  // namespace
}  // namespace inference::llama_cpp::test
