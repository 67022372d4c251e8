#include "inference/llama_server/completion_request.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <limits>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

boost::json::object body_of(const CompletionParams& params) {
  return boost::json::parse(completion_request_body(params)).as_object();
}

TEST(CompletionRequest, SendsOnlyThePromptAndTheStreamingFlagsByDefault) {
  CompletionParams params;
  params.prompt = std::string("Hello");
  const boost::json::object body = body_of(params);
  EXPECT_EQ(body.size(), 3U) << boost::json::serialize(body);
  EXPECT_EQ(body.at("prompt").as_string(), "Hello");
  EXPECT_EQ(body.at("stream").as_bool(), true);
  EXPECT_EQ(body.at("return_tokens").as_bool(), true);
}

TEST(CompletionRequest, SendsTokenIdPromptsAsAnArray) {
  CompletionParams params;
  params.prompt = std::vector<TokenId>{1, 15043, 31999};
  const boost::json::object body = body_of(params);
  EXPECT_EQ(body.at("prompt"), (boost::json::array{1, 15043, 31999}));
}

TEST(CompletionRequest, SendsEverySetField) {
  CompletionParams params;
  params.prompt = std::string("Hi \"there\"\n");
  params.n_predict = 8;
  params.temperature = 0.5;
  params.top_k = 40;
  params.top_p = 0.9;
  params.min_p = 0.05;
  params.repeat_penalty = 1.1;
  params.seed = std::numeric_limits<std::uint32_t>::max();
  params.stop = {"\n\n", "User:"};
  params.n_probs = 3;
  params.id_slot = 2;
  params.cache_prompt = false;
  const boost::json::object body = body_of(params);
  EXPECT_EQ(body.at("prompt").as_string(), "Hi \"there\"\n");
  EXPECT_EQ(body.at("n_predict").to_number<int>(), 8);
  EXPECT_DOUBLE_EQ(body.at("temperature").as_double(), 0.5);
  EXPECT_EQ(body.at("top_k").to_number<int>(), 40);
  EXPECT_DOUBLE_EQ(body.at("top_p").as_double(), 0.9);
  EXPECT_DOUBLE_EQ(body.at("min_p").as_double(), 0.05);
  EXPECT_DOUBLE_EQ(body.at("repeat_penalty").as_double(), 1.1);
  EXPECT_EQ(body.at("seed").to_number<std::uint64_t>(), 4294967295U);
  EXPECT_EQ(body.at("stop"), (boost::json::array{"\n\n", "User:"}));
  EXPECT_EQ(body.at("n_probs").to_number<int>(), 3);
  EXPECT_EQ(body.at("id_slot").to_number<int>(), 2);
  EXPECT_EQ(body.at("cache_prompt").as_bool(), false);
}

TEST(CompletionRequest, PassesPromptBytesThroughUnchanged) {
  CompletionParams params;
  params.prompt = std::string("caf\xc3\xa9 \xe2\x80\x8f");
  EXPECT_EQ(body_of(params).at("prompt").as_string(), "caf\xc3\xa9 \xe2\x80\x8f");
}

TEST(CompletionRequest, RejectsNonFiniteNumbers) {
  CompletionParams params;
  params.temperature = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW((void)completion_request_body(params), Error);
  params.temperature.reset();
  params.top_p = std::numeric_limits<double>::infinity();
  try {
    (void)completion_request_body(params);
    FAIL() << "expected invalid_argument";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument));
    EXPECT_NE(std::string(e.what()).find("top_p"), std::string::npos) << e.what();
  }
}

TEST(CompletionRequest, RejectsNegativeNProbs) {
  CompletionParams params;
  params.n_probs = -1;
  EXPECT_THROW((void)completion_request_body(params), Error);
}

TEST(CompletionRequest, SendsTheJsonSchemaAsAJsonObjectNotAString) {
  CompletionParams params;
  params.json_schema = R"({"type":"object","required":["ok"],"properties":{"ok":{"type":"boolean"}}})";
  const boost::json::object body = body_of(params);
  ASSERT_TRUE(body.at("json_schema").is_object()) << boost::json::serialize(body);
  EXPECT_EQ(body.at("json_schema").at("type").as_string(), "object");
  EXPECT_EQ(body.at("json_schema").at("required"), (boost::json::array{"ok"}));
  EXPECT_FALSE(body.contains("grammar"));
}

TEST(CompletionRequest, SendsTheGrammarAsItsText) {
  CompletionParams params;
  params.grammar = "root ::= (\"yes\" | \"no\")\n";
  const boost::json::object body = body_of(params);
  EXPECT_EQ(body.at("grammar").as_string(), "root ::= (\"yes\" | \"no\")\n");
  EXPECT_FALSE(body.contains("json_schema"));
}

TEST(CompletionRequest, SendsLogitBiasAsPairsWithFalseForMinusInfinity) {
  CompletionParams params;
  params.logit_bias = {{15043, 2.5}, {2, -std::numeric_limits<double>::infinity()}, {0, -1.0}};
  const boost::json::object body = body_of(params);
  EXPECT_EQ(body.at("logit_bias"), (boost::json::array{boost::json::array{15043, 2.5}, boost::json::array{2, false},
                                                       boost::json::array{0, -1.0}}));
}

TEST(CompletionRequest, LeavesConstraintsOutWhenUnset) {
  CompletionParams params;
  const boost::json::object body = body_of(params);
  EXPECT_FALSE(body.contains("json_schema"));
  EXPECT_FALSE(body.contains("grammar"));
  EXPECT_FALSE(body.contains("logit_bias"));
}

TEST(CompletionRequest, RejectsAJsonSchemaThatIsNotJson) {
  CompletionParams params;
  params.json_schema = "{\"type\": object}";
  try {
    (void)completion_request_body(params);
    FAIL() << "expected invalid_argument";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument));
    EXPECT_NE(std::string(e.what()).find("json_schema"), std::string::npos) << e.what();
  }
}

TEST(CompletionRequest, RejectsANegativeLogitBiasTokenAndAPlusInfiniteOrNanBias) {
  const double inf = std::numeric_limits<double>::infinity();
  for (const TokenBias& bad : {TokenBias{-1, 1.0}, TokenBias{5, inf}, TokenBias{5, std::nan("")}}) {
    CompletionParams params;
    params.logit_bias = {bad};
    try {
      (void)completion_request_body(params);
      ADD_FAILURE() << "expected invalid_argument for token " << bad.token << " bias " << bad.bias;
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument));
      EXPECT_NE(std::string(e.what()).find("logit_bias"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace inference::llama_server
