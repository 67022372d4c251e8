// The pure parts of the remote protocol: request bodies, stream events, refusals and their codes,
// Retry-After, and the retry decisions.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <cmath>
#include <limits>

#include "inference/error.hpp"
#include "inference/openai/remote_chunk.hpp"
#include "inference/openai/remote_error.hpp"
#include "inference/openai/request_body.hpp"
#include "inference/openai/retry_policy.hpp"

namespace inference::openai {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;

TEST(RequestBody, CompletionSendsOnlyWhatTheConfigSetsAndAsksForUsage) {
  GenerateConfig config;
  config.max_tokens = 7;
  config.temperature = 0.0F;
  config.stop = {"\n"};
  const json::object body = json::parse(completion_body("tiny", "Hello", config, false)).as_object();
  EXPECT_EQ(body.at("model").as_string(), "tiny");
  EXPECT_EQ(body.at("prompt").as_string(), "Hello");
  EXPECT_EQ(body.at("max_tokens").as_int64(), 7);
  EXPECT_TRUE(body.at("stream").as_bool());
  EXPECT_TRUE(body.at("stream_options").at("include_usage").as_bool());
  EXPECT_EQ(body.at("stop").as_array().size(), 1U);
  EXPECT_FALSE(body.contains("top_k"));
  EXPECT_FALSE(body.contains("seed"));
  EXPECT_FALSE(body.contains("ignore_eos"));
}

TEST(RequestBody, ChatSendsTheMessagesAndAForbiddenTokenAsTheLowestBias) {
  GenerateConfig config;
  config.logit_bias = {{5, -std::numeric_limits<float>::infinity()}, {6, 2.0F}};
  const json::object body =
      json::parse(chat_body("m", {{"system", "be brief"}, {"user", "hi"}}, config, true)).as_object();
  EXPECT_EQ(body.at("messages").as_array().size(), 2U);
  EXPECT_EQ(body.at("messages").as_array()[1].at("content").as_string(), "hi");
  EXPECT_EQ(body.at("logit_bias").at("5").as_double(), -100.0);
  EXPECT_EQ(body.at("logit_bias").at("6").as_double(), 2.0);
  EXPECT_TRUE(body.at("ignore_eos").as_bool());
}

TEST(RequestBody, WhatTheProtocolCannotCarryIsRefusedAsUnsupportedNamingTheField) {
  GenerateConfig ids;
  ids.stop_tokens = {2};
  const auto refused = unsupported_fields(ids, {});
  ASSERT_TRUE(refused);
  EXPECT_TRUE(refused->is(errc::unsupported));
  EXPECT_NE(std::string(refused->what()).find("stop_tokens"), std::string::npos);
  GenerateConfig schema;
  schema.json_schema = R"({"type":"object"})";
  EXPECT_TRUE(unsupported_fields(schema, {}));
  EXPECT_FALSE(unsupported_fields(GenerateConfig{}, {{"user", "hi"}}));
}

TEST(RemoteChunk, CompletionAndChatEventsGiveTextFinishAndUsage) {
  const RemoteChunk text =
      parse_remote_chunk(R"({"choices":[{"text":" successor","index":0,"logprobs":null,"finish_reason":null}],)"
                         R"("object":"text_completion"})",
                         false, "peer");
  EXPECT_EQ(text.token, " successor");
  EXPECT_FALSE(text.finish);

  const RemoteChunk role = parse_remote_chunk(
      R"({"choices":[{"finish_reason":null,"index":0,"delta":{"role":"assistant","content":null}}]})", true, "peer");
  EXPECT_FALSE(role.token) << "the role event carries no token";

  const RemoteChunk last = parse_remote_chunk(
      R"({"choices":[{"text":"","index":0,"finish_reason":"length"}],"usage":{"completion_tokens":3,"prompt_tokens":2,)"
      R"("prompt_tokens_details":{"cached_tokens":1}},)"
      R"("timings":{"prompt_per_second":770.4,"predicted_per_second":980.8}})",
      false, "peer");
  ASSERT_TRUE(last.finish);
  EXPECT_EQ(*last.finish, FinishReason::length);
  EXPECT_FALSE(last.token) << "the finish event's empty text is no token";
  ASSERT_TRUE(last.usage);
  EXPECT_EQ(last.usage->prompt_tokens, 2U);
  EXPECT_EQ(last.usage->completion_tokens, 3U);
  EXPECT_EQ(last.usage->cached_tokens, 1U);
  EXPECT_DOUBLE_EQ(last.usage->decode_tokens_per_s, 980.8);

  const RemoteChunk stop = parse_remote_chunk(R"({"choices":[{"delta":{},"finish_reason":"stop"}]})", true, "peer");
  EXPECT_EQ(stop.finish, FinishReason::stop);
}

TEST(RemoteChunk, AnEmptyTextMidStreamIsATokenLikeTheEnginesHeldBackUtf8Token) {
  const RemoteChunk held_back =
      parse_remote_chunk(R"({"choices":[{"text":"","index":0,"finish_reason":null}]})", false, "peer");
  EXPECT_EQ(held_back.token, "");
  const RemoteChunk chat_held_back =
      parse_remote_chunk(R"({"choices":[{"delta":{"content":""},"finish_reason":null}]})", true, "peer");
  EXPECT_EQ(chat_held_back.token, "");
  const RemoteChunk vllm_first =
      parse_remote_chunk(R"({"choices":[{"delta":{"role":"assistant","content":""}}]})", true, "peer");
  EXPECT_FALSE(vllm_first.token);
  const RemoteChunk last_with_text =
      parse_remote_chunk(R"({"choices":[{"text":"end","finish_reason":"stop"}]})", false, "peer");
  EXPECT_EQ(last_with_text.token, "end");
  EXPECT_EQ(last_with_text.finish, FinishReason::stop);
}

TEST(RequestBody, LlamaServersCompletionAsksForTokenIdsAndForbidsWithFalse) {
  GenerateConfig config;
  config.max_tokens = 5;
  config.top_k = 1;
  config.logit_bias = {{7, -std::numeric_limits<float>::infinity()}, {9, 2.5F}};
  const json::object body = json::parse(llama_completion_body("Hello", config, true)).as_object();
  EXPECT_EQ(body.at("prompt").as_string(), "Hello");
  EXPECT_EQ(body.at("n_predict").as_int64(), 5);
  EXPECT_TRUE(body.at("stream").as_bool());
  EXPECT_TRUE(body.at("return_tokens").as_bool());
  EXPECT_EQ(body.at("top_k").as_int64(), 1);
  EXPECT_TRUE(body.at("ignore_eos").as_bool());
  EXPECT_FALSE(body.contains("model"));
  EXPECT_FALSE(body.contains("max_tokens"));
  const json::array& bias = body.at("logit_bias").as_array();
  ASSERT_EQ(bias.size(), 2U);
  EXPECT_EQ(bias[0].as_array()[0].as_int64(), 7);
  EXPECT_FALSE(bias[0].as_array()[1].as_bool()) << "false is llama-server's never";
  EXPECT_DOUBLE_EQ(bias[1].as_array()[1].to_number<double>(), 2.5);
}

// Bytes of llama-server 11669's /completion stream with return_tokens (captured by hand).
TEST(RemoteChunk, LlamaServersCompletionEventsGiveTheTokenIdTheStopTypeAndTheCounts) {
  const RemoteChunk token = parse_llama_completion_chunk(
      R"({"index":0,"content":"select","tokens":[2622],"stop":false,"id_slot":-1,"tokens_predicted":1,)"
      R"("tokens_evaluated":2})",
      "peer");
  EXPECT_EQ(token.token, "select");
  EXPECT_EQ(token.token_id, 2622);
  EXPECT_FALSE(token.finish);

  const RemoteChunk partial =
      parse_llama_completion_chunk(R"({"index":0,"content":"","tokens":[31423],"stop":false})", "peer");
  EXPECT_EQ(partial.token, "") << "a token ending inside a UTF-8 character is still a token";
  EXPECT_EQ(partial.token_id, 31423);

  const RemoteChunk last = parse_llama_completion_chunk(
      R"({"index":0,"content":"","tokens":[],"id_slot":0,"stop":true,"tokens_predicted":3,"tokens_evaluated":2,)"
      R"("stop_type":"limit","tokens_cached":4,"timings":{"cache_n":1,"prompt_n":1,"prompt_per_second":294.2,)"
      R"("predicted_n":3,"predicted_per_second":353.7}})",
      "peer");
  EXPECT_FALSE(last.token);
  EXPECT_EQ(last.finish, FinishReason::length);
  ASSERT_TRUE(last.usage);
  EXPECT_EQ(last.usage->prompt_tokens, 2U);
  EXPECT_EQ(last.usage->completion_tokens, 3U);
  EXPECT_EQ(last.usage->cached_tokens, 1U);
  EXPECT_DOUBLE_EQ(last.usage->decode_tokens_per_s, 353.7);

  EXPECT_EQ(parse_llama_completion_chunk(R"({"content":"","stop":true,"stop_type":"eos"})", "peer").finish,
            FinishReason::stop);
  EXPECT_EQ(parse_llama_completion_chunk(R"({"content":"","stop":true,"stop_type":"word"})", "peer").finish,
            FinishReason::stop);
}

TEST(RemoteChunk, MalformedLlamaServerEventsAreProtocolErrorsNamingThePeer) {
  for (const char* bad :
       {R"({"content":"x"})", R"({"content":1,"stop":false})", R"({"content":"x","stop":"no"})",
        R"({"content":"x","tokens":[1,2],"stop":false})", R"({"content":"x","tokens":[-1],"stop":false})",
        R"({"content":"x","tokens":"1","stop":false})", "[]"}) {
    try {
      parse_llama_completion_chunk(bad, "http://peer:1");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::protocol_error)) << bad << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find("http://peer:1"), std::string::npos) << e.what();
    }
  }
}

TEST(RemoteChunk, AnErrorEventThrowsTheServersMessageAndMalformedDataIsAProtocolError) {
  try {
    parse_remote_chunk(R"({"error":{"code":400,"message":"the prompt is too long","type":"invalid_request_error"}})",
                       false, "http://h:1");
    ADD_FAILURE() << "no error thrown";
  } catch (const RemoteError& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    EXPECT_EQ(e.remote_message(), "the prompt is too long");
    EXPECT_FALSE(e.transient());
  }
  for (const char* bad : {"not json", "[1,2]", R"({"choices":{}})", R"({"choices":[{"text":5}]})"}) {
    try {
      parse_remote_chunk(bad, false, "peer");
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    }
  }
}

TEST(RemoteError, EachStatusHasItsCodeAndTheServersMessage) {
  const RemoteError auth = remote_error_from_response(
      401, R"({"error":{"message":"Invalid API Key","type":"authentication_error","code":401}})", std::nullopt,
      "http://h:1 POST /v1/completions");
  EXPECT_TRUE(auth.is(errc::backend_unavailable));
  EXPECT_EQ(auth.remote_message(), "Invalid API Key");
  EXPECT_NE(std::string(auth.what()).find("API key was refused"), std::string::npos) << auth.what();
  EXPECT_FALSE(auth.transient());

  EXPECT_TRUE(remote_error_from_response(404, R"({"error":"model 'x' not found"})", std::nullopt, "c")
                  .is(errc::model_not_found));
  const RemoteError busy = remote_error_from_response(429, "slow down", milliseconds(1500), "c");
  EXPECT_TRUE(busy.is(errc::overloaded));
  EXPECT_TRUE(busy.transient());
  EXPECT_EQ(busy.retry_after(), milliseconds(1500));
  const RemoteError down = remote_error_from_response(503, "<html>bad gateway</html>\n", std::nullopt, "c");
  EXPECT_TRUE(down.is(errc::backend_unavailable));
  EXPECT_TRUE(down.transient());
  EXPECT_EQ(down.remote_message(), "<html>bad gateway</html>");
  EXPECT_TRUE(remote_error_from_response(422, "{}", std::nullopt, "c").is(errc::invalid_argument));
}

TEST(RetryAfter, SecondsAndHttpDatesAreReadOtherTextIsNot) {
  const auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
  EXPECT_EQ(parse_retry_after("120", now), milliseconds(120'000));
  EXPECT_EQ(parse_retry_after(" 0 ", now), milliseconds(0));
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), milliseconds(30'000));
  EXPECT_EQ(parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now), milliseconds(0));
  EXPECT_FALSE(parse_retry_after("", now));
  EXPECT_FALSE(parse_retry_after("soon", now));
  EXPECT_FALSE(parse_retry_after("-5", now));
  EXPECT_FALSE(parse_retry_after("999999999", now));
}

TEST(RetryPolicy, TransientFailuresBackOffDoublingUpToTheCapWithinTheBudget) {
  const RetryPolicy policy{3, milliseconds(200), milliseconds(500)};
  const RemoteError down = transport_error("refused", true);
  EXPECT_EQ(retry_delay(policy, 1, down), milliseconds(200));
  EXPECT_EQ(retry_delay(policy, 2, down), milliseconds(400));
  EXPECT_EQ(retry_delay(policy, 3, down), milliseconds(500));
  EXPECT_FALSE(retry_delay(policy, 4, down));
  EXPECT_FALSE(retry_delay(policy, 1, transport_error("certificate refused", false)));
  EXPECT_FALSE(retry_delay(policy, 1, remote_error_from_response(401, "", std::nullopt, "c")));
}

TEST(RetryPolicy, RetryAfterIsWaitedExactlyAndOneBeyondTheCapIsNotWaitedFor) {
  const RetryPolicy policy{3, milliseconds(200), milliseconds(5'000)};
  EXPECT_EQ(retry_delay(policy, 1, remote_error_from_response(429, "", milliseconds(1'000), "c")), milliseconds(1'000));
  EXPECT_FALSE(retry_delay(policy, 1, remote_error_from_response(429, "", milliseconds(60'000), "c")));
}

}  // namespace
}  // namespace inference::openai
