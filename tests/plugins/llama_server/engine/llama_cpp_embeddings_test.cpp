// embed() and rerank() of the llama-server engine against the real llama-server (build 11669)
// and the tiny model: a model loaded with embeddings=true (pooling mean: the tiny model's own
// pooling is none) or reranking=true, and the refusals of the other combinations.
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "llama_cpp_fixture.hpp"

namespace inference::llama_cpp::test {
namespace {

namespace asio = boost::asio;

constexpr uint32_t kEmbeddingContextPerSlot = 256;

LoadOptions embedding_options(uint32_t slots = kTestSlots) {
  LoadOptions options = tiny_options(slots, kEmbeddingContextPerSlot);
  options.backend_options["embeddings"] = "true";
  options.backend_options["pooling"] = "mean";
  return options;
}

// g++ 12 rejects a braced list of strings inside a coroutine: the inputs are built out here.
const std::vector<std::string> kTwinInputs{"hello world", "a different text", "hello world"};
const std::vector<std::string> kSecondEmpty{"a", ""};
const std::vector<std::string> kOne{"hi"};
const std::vector<std::string> kDocuments{"a b", "hello there", "a b"};
const std::vector<Message> kChat{{"user", "hi"}};

// Runs `call` and returns the Error it throws (the test fails when it throws nothing).
template <typename Call>
asio::awaitable<Error> error_of(Call call) {
  try {
    co_await call();
  } catch (const Error& e) {
    co_return e;
  }
  ADD_FAILURE() << "expected an error";
  co_return Error(errc::unsupported, "(nothing was thrown)");
}

TEST(LlamaCppEmbeddingsTest, VectorsHaveTheModelsDimensionAndIdenticalInputsGiveIdenticalVectors) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(embedding_options());
    const uint64_t dimension = model->info().embedding_length;
    EXPECT_GT(dimension, 0U);
    const auto vectors = co_await model->embed(kTwinInputs);
    EXPECT_EQ(vectors.size(), 3U);
    for (const Embedding& vector : vectors) {
      EXPECT_EQ(vector.values.size(), dimension);
      EXPECT_GT(vector.prompt_tokens, 0U);
    }
    EXPECT_EQ(vectors[0].values, vectors[2].values);
    EXPECT_NE(vectors[0].values, vectors[1].values);
    co_await model->close();
  });
}

TEST(LlamaCppEmbeddingsTest, TenInputsOverFourSlotsComeBackInInputOrder) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(embedding_options(4));
    std::vector<std::string> inputs;
    for (int i = 0; i < 10; ++i) inputs.push_back("input number " + std::to_string(i));
    const auto batch = co_await model->embed(inputs);
    EXPECT_EQ(batch.size(), inputs.size());
    if (batch.size() != inputs.size()) co_return;
    // Each input alone gives the vector the batch gave at its position.
    for (size_t i = 0; i < inputs.size(); ++i) {
      const auto alone = co_await model->embed(std::vector<std::string>(1, inputs[i]));
      EXPECT_EQ(alone.at(0).values, batch[i].values) << "input " << i;
    }
    EXPECT_GE(model->stats().max_in_flight, 2U);  // the batch ran on more than one slot
    EXPECT_TRUE((co_await model->embed(std::vector<std::string>())).empty());
    const Error empty = co_await error_of([&]() -> asio::awaitable<void> { co_await model->embed(kSecondEmpty); });
    EXPECT_TRUE(empty.is(errc::invalid_argument)) << empty.what();
    EXPECT_NE(std::string(empty.what()).find("input 1"), std::string::npos) << empty.what();
    co_await model->close();
  });
}

TEST(LlamaCppEmbeddingsTest, AnInputLargerThanTheServersBatchIsInvalidArgumentNamingIt) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(embedding_options(1));
    std::string long_input;
    for (uint32_t i = 0; i < 2 * kEmbeddingContextPerSlot; ++i) long_input += " word";
    const std::vector<std::string> inputs{"short", long_input};
    const Error refused = co_await error_of([&]() -> asio::awaitable<void> { co_await model->embed(inputs); });
    EXPECT_TRUE(refused.is(errc::invalid_argument)) << refused.what();
    EXPECT_NE(std::string(refused.what()).find("input 1"), std::string::npos) << refused.what();
    EXPECT_EQ((co_await model->embed(kOne)).size(), 1U);  // the server still serves
    co_await model->close();
  });
}

TEST(LlamaCppEmbeddingsTest, EmbedOnAModelLoadedToGenerateIsUnsupported) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(1, kEmbeddingContextPerSlot));
    const Error refused = co_await error_of([&]() -> asio::awaitable<void> { co_await model->embed(kOne); });
    EXPECT_TRUE(refused.is(errc::unsupported)) << refused.what();
    EXPECT_NE(std::string(refused.what()).find("embeddings=true"), std::string::npos) << refused.what();
    co_await model->close();
  });
}

TEST(LlamaCppEmbeddingsTest, GenerateOnAModelLoadedForEmbeddingsIsUnsupported) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(embedding_options(1));
    GenerateConfig config;
    config.max_tokens = 2;
    for (const bool chat : {false, true}) {
      TokenStream stream = chat ? model->chat(kChat, config) : model->generate("hi", config);
      const Error refused = co_await error_of([&]() -> asio::awaitable<void> { (void)co_await stream.next(); });
      EXPECT_TRUE(refused.is(errc::unsupported)) << refused.what();
      EXPECT_NE(std::string(refused.what()).find("loaded for embeddings"), std::string::npos) << refused.what();
    }
    // The server is still there (a /completion would have crashed it).
    EXPECT_EQ((co_await model->embed(kOne)).size(), 1U);
    EXPECT_EQ(model->stats().restarts, 0U);
    co_await model->close();
  });
}

TEST(LlamaCppEmbeddingsTest, PoolingNoneIsRefusedByEmbed) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    // The tiny model's own pooling is none: the server then answers one vector per token.
    LoadOptions options = embedding_options(1);
    options.backend_options.erase("pooling");
    auto model = co_await load_tiny(options);
    const Error refused = co_await error_of([&]() -> asio::awaitable<void> { co_await model->embed(kOne); });
    EXPECT_TRUE(refused.is(errc::unsupported)) << refused.what();
    EXPECT_NE(std::string(refused.what()).find("pooling=mean"), std::string::npos) << refused.what();
    co_await model->close();
  });
}

TEST(LlamaCppEmbeddingsTest, CancellingABatchFreesEverySlot) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(embedding_options(2));
    const auto executor = co_await asio::this_coro::executor;
    // Many more inputs than slots: most of them are still queued when the cancellation comes.
    std::vector<std::string> inputs(200, "some text to embed");
    asio::cancellation_signal cancel;
    std::optional<std::exception_ptr> outcome;
    asio::co_spawn(executor, model->embed(inputs),
                   asio::bind_cancellation_slot(
                       cancel.slot(), [&](std::exception_ptr failure, std::vector<Embedding>) { outcome = failure; }));
    EXPECT_TRUE(co_await wait_until([&] { return model->stats().queue_depth > 0; }));
    cancel.emit(asio::cancellation_type::terminal);
    EXPECT_TRUE(co_await wait_until([&] { return outcome.has_value(); }));
    const Error cancelled = co_await error_of([&]() -> asio::awaitable<void> {
      if (outcome && *outcome) std::rethrow_exception(*outcome);
      co_return;
    });
    EXPECT_TRUE(cancelled.is(errc::cancelled)) << cancelled.what();
    EXPECT_TRUE(co_await wait_until([&] {
      const ModelStats stats = model->stats();
      return stats.slots_busy == 0 && stats.queue_depth == 0;
    }));
    EXPECT_EQ((co_await model->embed(kOne)).size(), 1U);
    co_await model->close();
  });
}

TEST(LlamaCppEmbeddingsTest, RerankScoresEveryDocumentInDocumentOrder) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    // The tiny model has no classification head; llama-server 11669 still starts with
    // --reranking and scores from the pooled output: numbers, deterministic, meaningless.
    LoadOptions options = tiny_options(2, kEmbeddingContextPerSlot);
    options.backend_options["reranking"] = "true";
    auto model = co_await load_tiny(options);
    const auto scores = co_await model->rerank("hello", kDocuments);
    EXPECT_EQ(scores.size(), 3U);
    if (scores.size() != 3) co_return;
    for (uint32_t i = 0; i < scores.size(); ++i) EXPECT_EQ(scores[i].index, i);
    EXPECT_EQ(scores[0].score, scores[2].score);
    EXPECT_NE(scores[0].score, scores[1].score);
    const Error embed = co_await error_of([&]() -> asio::awaitable<void> { co_await model->embed(kOne); });
    EXPECT_TRUE(embed.is(errc::unsupported)) << embed.what();
    co_await model->close();
  });
}

TEST(LlamaCppEmbeddingsTest, RerankOnAnEmbeddingsModelIsUnsupported) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(embedding_options(1));
    const Error refused = co_await error_of([&]() -> asio::awaitable<void> { co_await model->rerank("q", kOne); });
    EXPECT_TRUE(refused.is(errc::unsupported)) << refused.what();
    co_await model->close();
  });
}

}  // namespace
}  // namespace inference::llama_cpp::test
