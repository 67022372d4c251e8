// What a GenerateConfig becomes in llama-server's /completion parameters, without a server.
#include "inference/llama_server/request_params.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>
#include <string>
#include <vector>

namespace inference::llama_server {
namespace {

constexpr int32_t kVocab = 32000;  // the tiny test model's vocabulary size

TEST(RequestParams, AnEmptyConfigLeavesSamplingToTheServerAndPinsTheSlot) {
  const CompletionParams params = request_params(GenerateConfig(), "Hello", 2, EngineOptions());
  EXPECT_EQ(std::get<std::string>(params.prompt), "Hello");
  EXPECT_EQ(params.n_predict, kDefaultMaxTokens);
  EXPECT_FALSE(params.temperature);
  EXPECT_FALSE(params.top_k);
  EXPECT_FALSE(params.top_p);
  EXPECT_FALSE(params.min_p);
  EXPECT_FALSE(params.repeat_penalty);
  EXPECT_FALSE(params.seed);
  EXPECT_TRUE(params.stop.empty());
  EXPECT_FALSE(params.n_probs) << "logprobs 0 asks for no probabilities";
  EXPECT_EQ(params.id_slot, 2);
  EXPECT_EQ(params.cache_prompt, true);
  EXPECT_FALSE(params.ignore_eos);
}

TEST(RequestParams, EverySetFieldIsPassedOn) {
  GenerateConfig config;
  config.max_tokens = 7;
  config.temperature = 0.5F;
  config.top_k = 40;
  config.top_p = 0.9F;
  config.min_p = 0.05F;
  config.repeat_penalty = 1.1F;
  config.seed = 42;
  config.stop = {"\n\n", "END"};
  config.logprobs = 3;
  const CompletionParams params = request_params(config, "x", 0, EngineOptions());
  EXPECT_EQ(params.n_predict, 7);
  EXPECT_FLOAT_EQ(static_cast<float>(*params.temperature), 0.5F);
  EXPECT_EQ(params.top_k, 40);
  EXPECT_FLOAT_EQ(static_cast<float>(*params.top_p), 0.9F);
  EXPECT_FLOAT_EQ(static_cast<float>(*params.min_p), 0.05F);
  EXPECT_FLOAT_EQ(static_cast<float>(*params.repeat_penalty), 1.1F);
  EXPECT_EQ(params.seed, 42U);
  EXPECT_EQ(params.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(params.n_probs, 3);
}

TEST(RequestParams, ASeedIsTruncatedToTheServers32Bits) {
  GenerateConfig config;
  config.seed = (uint64_t{1} << 32) + 5;
  EXPECT_EQ(request_params(config, "x", 0, EngineOptions()).seed, 5U);
}

TEST(RequestParams, MaxTokensZeroIsSentAsZero) {
  GenerateConfig config;
  config.max_tokens = 0;
  EXPECT_EQ(request_params(config, "x", 0, EngineOptions()).n_predict, 0);
}

TEST(RequestParams, TheEnginesIgnoreEosOptionIsSent) {
  EngineOptions engine;
  engine.ignore_eos = true;
  EXPECT_EQ(request_params(GenerateConfig(), "x", 1, engine).ignore_eos, true);
}

TEST(RequestParams, ConstraintsAndLogitBiasArePassedOnAndUnsetOnesStayEmpty) {
  GenerateConfig config;
  config.json_schema = R"({"type":"object"})";
  config.logit_bias = {{15043, 1.5F}, {2, -std::numeric_limits<float>::infinity()}};
  const CompletionParams params = request_params(config, "x", 0, EngineOptions());
  EXPECT_EQ(params.json_schema, R"({"type":"object"})");
  EXPECT_TRUE(params.grammar.empty());
  ASSERT_EQ(params.logit_bias.size(), 2U);
  EXPECT_EQ(params.logit_bias[0].token, 15043);
  EXPECT_DOUBLE_EQ(params.logit_bias[0].bias, 1.5);
  EXPECT_EQ(params.logit_bias[1].token, 2);
  EXPECT_TRUE(std::isinf(params.logit_bias[1].bias) && params.logit_bias[1].bias < 0);
  GenerateConfig grammar;
  grammar.grammar = R"(root ::= "yes")";
  const CompletionParams constrained = request_params(grammar, "x", 0, EngineOptions());
  EXPECT_EQ(constrained.grammar, R"(root ::= "yes")");
  EXPECT_TRUE(constrained.json_schema.empty());
  EXPECT_TRUE(constrained.logit_bias.empty());
}

TEST(RequestParams, ATokenIdPromptIsSentAsIds) {
  const CompletionParams params = request_params(GenerateConfig(), std::vector<TokenId>{1, 15043}, 0, EngineOptions());
  EXPECT_EQ(std::get<std::vector<TokenId>>(params.prompt), (std::vector<TokenId>{1, 15043}));
}

TEST(CheckRequest, AJsonSchemaThatIsNotJsonIsRefusedWithWhyAndWhere) {
  GenerateConfig config;
  config.json_schema = R"({"type": object})";
  const std::optional<Error> error = check_request(config, kVocab);
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::invalid_argument));
  EXPECT_NE(std::string(error->what()).find("GenerateConfig::json_schema is not valid JSON: syntax error at offset 9"),
            std::string::npos)
      << error->what();
  config.json_schema = R"({"type":"object"} trailing)";
  const std::optional<Error> trailing = check_request(config, kVocab);
  ASSERT_TRUE(trailing.has_value());
  EXPECT_NE(std::string(trailing->what()).find("at offset 18"), std::string::npos) << trailing->what();
}

TEST(CheckRequest, AcceptsAnyJsonSchemaTextAndNoSchema) {
  GenerateConfig config;
  EXPECT_FALSE(check_request(config, kVocab));
  config.json_schema = R"( {"type":"object","properties":{"a":{"enum":["x","y"]}}} )";
  EXPECT_FALSE(check_request(config, kVocab));
}

TEST(CheckRequest, ALogitBiasTokenOutsideTheVocabularyIsRefusedUnlessTheSizeIsUnknown) {
  GenerateConfig config;
  config.logit_bias = {{kVocab - 1, 1.0F}};
  EXPECT_FALSE(check_request(config, kVocab));
  config.logit_bias = {{kVocab, 1.0F}};
  const std::optional<Error> error = check_request(config, kVocab);
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::invalid_argument));
  EXPECT_NE(std::string(error->what()).find("logit_bias token 32000"), std::string::npos) << error->what();
  EXPECT_FALSE(check_request(config, 0)) << "an unknown vocabulary size checks nothing";
}

TEST(CheckTokenIds, RefusesNegativeIdsAndIdsOutsideTheVocabularyNamingThem) {
  const std::vector<TokenId> fine{0, 1, kVocab - 1};
  EXPECT_FALSE(check_token_ids(fine, kVocab, "detokenize()"));
  const std::vector<TokenId> outside{1, kVocab};
  const std::optional<Error> too_big = check_token_ids(outside, kVocab, "detokenize()");
  ASSERT_TRUE(too_big.has_value());
  EXPECT_TRUE(too_big->is(errc::invalid_argument));
  EXPECT_NE(std::string(too_big->what()).find("detokenize() token 32000 is outside"), std::string::npos)
      << too_big->what();
  const std::vector<TokenId> negative{-3};
  const std::optional<Error> below = check_token_ids(negative, 0, "generate_tokens() prompt");
  ASSERT_TRUE(below.has_value());
  EXPECT_NE(std::string(below->what()).find("token -3 is negative"), std::string::npos) << below->what();
}

}  // namespace
}  // namespace inference::llama_server
