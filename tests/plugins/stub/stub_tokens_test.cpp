// The stub backend's tokens in and out (tokenize, detokenize, generate_tokens), logit_bias and
// its refusal of constrained output: in process, and tokenize through the plugin as a host calls it.
#include <gtest/gtest.h>

#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/registry.hpp"
#include "stub_model.hpp"
#include "stub_vocabulary.hpp"
#include "support/run_async.hpp"

namespace inference::stub {
namespace {

namespace asio = boost::asio;

constexpr int32_t kTokens = 12;
constexpr float kNever = -std::numeric_limits<float>::infinity();

std::shared_ptr<TextModel> make_stub(asio::any_io_executor executor) {
  return std::make_shared<StubModel>(std::move(executor), "stub", LoadOptions(), StubOptions());
}

GenerateConfig tokens(int32_t count) {
  GenerateConfig config;
  config.max_tokens = count;
  config.seed = 3;
  return config;
}

asio::awaitable<std::vector<Token>> drain(TokenStream stream) {
  std::vector<Token> out;
  while (auto token = co_await stream.next()) out.push_back(std::move(*token));
  co_return out;
}

asio::awaitable<Error> stream_error(TokenStream stream) {
  try {
    (void)co_await drain(std::move(stream));
  } catch (const Error& e) {
    co_return e;
  }
  ADD_FAILURE() << "the stream ended without an error";
  co_return Error(errc::protocol_error, "no error");
}

std::vector<int32_t> ids_of(const std::vector<Token>& tokens) {
  std::vector<int32_t> ids;
  for (const Token& token : tokens) ids.push_back(token.id);
  return ids;
}

TEST(StubTokens, TokenizeGivesEachWordsIdAndPieceAndBosWithAddSpecial) {
  testing::run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    const std::vector<Token> plain = co_await model->tokenize("the  model\tqueue", false);
    EXPECT_EQ(plain.size(), 3U);
    if (plain.size() != 3U) co_return;
    EXPECT_EQ(plain[0].id, kFirstWordId);  // "the" is the list's first word
    EXPECT_EQ(plain[0].text, " the");
    EXPECT_EQ(plain[1].text, " model");
    EXPECT_EQ(plain[2].text, " queue");
    for (const Token& token : plain) EXPECT_EQ(word_of(token.id), token.text.substr(1));
    const std::vector<Token> special = co_await model->tokenize("the model", true);
    EXPECT_EQ(special.size(), 3U);
    if (special.size() != 3U) co_return;
    EXPECT_EQ(special[0].id, kBosId);
    EXPECT_EQ(special[0].text, "");
    EXPECT_TRUE((co_await model->tokenize("", false)).empty());
  });
}

TEST(StubTokens, AWordOutsideTheListIsTheUnknownToken) {
  testing::run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    const std::vector<Token> tokens = co_await model->tokenize("the zebra", false);
    EXPECT_EQ(tokens.size(), 2U);
    if (tokens.size() != 2U) co_return;
    EXPECT_EQ(tokens[1].id, kUnknownId);
    EXPECT_EQ(tokens[1].text, " <unk>");
    EXPECT_EQ(co_await model->detokenize(ids_of(tokens)), "the <unk>");
  });
}

TEST(StubTokens, DetokenizeOfTokenizeGivesTheTextBackWithoutTheBos) {
  testing::run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    const std::string text = "the river under the bridge";
    EXPECT_EQ(co_await model->detokenize(ids_of(co_await model->tokenize(text, true))), text);
    EXPECT_EQ(co_await model->detokenize(std::vector<int32_t>()), "");
  });
}

TEST(StubTokens, DetokenizeRefusesIdsOutsideTheVocabularyNamingThem) {
  testing::run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    const std::vector<int32_t> bad_ids{-1, static_cast<int32_t>(vocabulary_size())};
    for (const int32_t bad : bad_ids) {
      try {
        std::vector<int32_t> ids{kFirstWordId, bad};
        (void)co_await model->detokenize(std::move(ids));
        ADD_FAILURE() << "expected invalid_argument for " << bad;
      } catch (const Error& e) {
        EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
        EXPECT_NE(std::string(e.what()).find(std::to_string(bad)), std::string::npos) << e.what();
      }
    }
  });
}

TEST(StubTokens, GenerateTokensOfTokenizedTextEqualsGenerateOfTheText) {
  testing::run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    const std::string text = "the quiet river";
    const std::vector<Token> from_text = co_await drain(model->generate(text, tokens(kTokens)));
    const std::vector<int32_t> ids = ids_of(co_await model->tokenize(text, true));
    const std::vector<Token> from_ids = co_await drain(model->generate_tokens(ids, tokens(kTokens)));
    EXPECT_EQ(from_ids.size(), static_cast<std::size_t>(kTokens));
    if (from_ids.size() != static_cast<std::size_t>(kTokens)) co_return;
    EXPECT_EQ(ids_of(from_ids), ids_of(from_text));
  });
}

TEST(StubTokens, GenerateTokensRefusesAnEmptyPromptAndIdsOutsideTheVocabulary) {
  testing::run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    const Error empty = co_await stream_error(model->generate_tokens(std::vector<int32_t>(), tokens(kTokens)));
    EXPECT_TRUE(empty.is(errc::invalid_argument)) << empty.what();
    std::vector<int32_t> outside_ids{kBosId, 5000};
    const Error outside = co_await stream_error(model->generate_tokens(std::move(outside_ids), tokens(kTokens)));
    EXPECT_TRUE(outside.is(errc::invalid_argument)) << outside.what();
    EXPECT_NE(std::string(outside.what()).find("5000"), std::string::npos) << outside.what();
  });
}

TEST(StubTokens, MinusInfinityLogitBiasForbidsTheWordItWouldHaveChosen) {
  testing::run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    const std::vector<Token> free = co_await drain(model->generate("the", tokens(kTokens)));
    EXPECT_FALSE(free.empty());
    if (free.empty()) co_return;
    GenerateConfig config = tokens(kTokens);
    config.logit_bias = {{free.front().id, kNever}, {kFirstWordId + 1, 5.0F}};
    const std::vector<Token> biased = co_await drain(model->generate("the", config));
    EXPECT_EQ(biased.size(), free.size());
    if (biased.size() != free.size()) co_return;
    EXPECT_NE(biased.front().id, free.front().id);
    for (const Token& token : biased) EXPECT_NE(token.id, free.front().id);
  });
}

TEST(StubTokens, LogitBiasForbiddingEveryWordOrOutsideTheVocabularyIsRefused) {
  testing::run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    GenerateConfig all = tokens(kTokens);
    for (int32_t id = kFirstWordId; id < static_cast<int32_t>(vocabulary_size()); ++id) {
      all.logit_bias.push_back({id, kNever});
    }
    const Error every = co_await stream_error(model->generate("the", all));
    EXPECT_TRUE(every.is(errc::invalid_argument)) << every.what();
    GenerateConfig outside = tokens(kTokens);
    outside.logit_bias = {{static_cast<int32_t>(vocabulary_size()), 1.0F}};
    const Error out = co_await stream_error(model->generate("the", outside));
    EXPECT_TRUE(out.is(errc::invalid_argument)) << out.what();
    EXPECT_NE(std::string(out.what()).find("logit_bias"), std::string::npos) << out.what();
  });
}

TEST(StubTokens, JsonSchemaAndGrammarAreUnsupportedInGenerateAndChat) {
  testing::run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    GenerateConfig schema = tokens(kTokens);
    schema.json_schema = R"({"type":"object"})";
    GenerateConfig grammar = tokens(kTokens);
    grammar.grammar = R"(root ::= "yes")";
    const std::vector<GenerateConfig> configs{schema, grammar};
    for (const GenerateConfig& config : configs) {
      const Error generated = co_await stream_error(model->generate("the", config));
      EXPECT_TRUE(generated.is(errc::unsupported)) << generated.what();
      EXPECT_NE(std::string(generated.what()).find("stub"), std::string::npos) << generated.what();
      std::vector<Message> messages;
      messages.push_back(Message{"user", "the"});
      const Error chatted = co_await stream_error(model->chat(std::move(messages), config));
      EXPECT_TRUE(chatted.is(errc::unsupported)) << chatted.what();
    }
  });
}

TEST(StubTokens, AClosedModelRefusesTokenizeAndDetokenize) {
  testing::run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    co_await model->close();
    try {
      (void)co_await model->tokenize("the", false);
      ADD_FAILURE() << "expected closed";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::closed)) << e.what();
    }
    try {
      std::vector<int32_t> ids{kFirstWordId};
      (void)co_await model->detokenize(std::move(ids));
      ADD_FAILURE() << "expected closed";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::closed)) << e.what();
    }
  });
}

TEST(StubTokens, TokenizeAndGenerateTokensReachTheStubThroughItsPlugin) {
  Registry registry;
  registry.load_plugin(std::filesystem::path(STUB_TEST_PLUGIN_DIR) / "libbackend_stub.so");
  testing::run_async([&]() -> asio::awaitable<void> {
    auto model = co_await registry.load_model("stub", LoadOptions(), "stub");
    const std::vector<Token> tokens_of_text = co_await model->tokenize("the model", true);
    EXPECT_EQ(ids_of(tokens_of_text), (std::vector<int32_t>{kBosId, kFirstWordId, kFirstWordId + 2}));
    EXPECT_EQ(co_await model->detokenize(ids_of(tokens_of_text)), "the model");
    const std::vector<Token> generated = co_await drain(model->generate_tokens(ids_of(tokens_of_text), tokens(3)));
    EXPECT_EQ(generated.size(), 3U);
    co_await model->close();
  });
}

}  // namespace
}  // namespace inference::stub
