// Tests for include/inference/gateway/openai_response.hpp
#include "inference/gateway/openai_response.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <string>
#include <vector>

namespace inference::gateway {
namespace {

namespace json = boost::json;

const ResponseIdentity kIdentity{"chatcmpl-7", "tiny", 1700000000};

CompletionRequest request_for(Endpoint endpoint, bool logprobs = false, int32_t top_logprobs = 0) {
  CompletionRequest request;
  request.endpoint = endpoint;
  request.model = "tiny";
  request.logprobs = logprobs;
  request.top_logprobs = top_logprobs;
  return request;
}

Token token(int32_t id, std::string text, std::vector<TokenProbability> top = {}) {
  Token t;
  t.id = id;
  t.text = std::move(text);
  t.top = std::move(top);
  return t;
}

// Parses `text` as JSON: a failure, not a crash, when it is not valid.
json::object parsed(const std::string& text) {
  json::error_code ec;
  json::value value = json::parse(text, ec);
  EXPECT_FALSE(ec) << ec.message() << ": " << text;
  EXPECT_TRUE(value.is_object()) << text;
  return value.is_object() ? value.get_object() : json::object();
}

void expect_identity(const json::object& body, std::string_view object) {
  EXPECT_EQ(body.at("id").as_string(), "chatcmpl-7");
  EXPECT_EQ(body.at("object").as_string(), object);
  EXPECT_EQ(body.at("created").as_int64(), 1700000000);
  EXPECT_EQ(body.at("model").as_string(), "tiny");
  EXPECT_FALSE(body.contains("system_fingerprint"));
}

const json::object& only_choice(const json::object& body) {
  const json::array& choices = body.at("choices").as_array();
  EXPECT_EQ(choices.size(), 1U);
  EXPECT_EQ(choices.at(0).at("index").as_int64(), 0);
  return choices.at(0).as_object();
}

TEST(OpenAIResponse, TheChatRoleChunkOpensTheAssistantMessage) {
  const json::object body = parsed(role_chunk(request_for(Endpoint::chat_completions), kIdentity));
  expect_identity(body, "chat.completion.chunk");
  const json::object& choice = only_choice(body);
  EXPECT_EQ(choice.at("delta"), (json::object{{"role", "assistant"}, {"content", ""}}));
  EXPECT_TRUE(choice.at("logprobs").is_null());
  EXPECT_TRUE(choice.at("finish_reason").is_null());
  EXPECT_FALSE(body.contains("usage"));
}

TEST(OpenAIResponse, CompletionsHaveNoRoleChunk) {
  EXPECT_EQ(role_chunk(request_for(Endpoint::completions), kIdentity), "");
}

TEST(OpenAIResponse, AChatTokenChunkCarriesTheTextEscaped) {
  const std::string text = "a \"quoted\" \\ line\nnext\ttab \x01 caf\xC3\xA9 \xF0\x9F\x99\x82";
  const json::object body = parsed(token_chunk(request_for(Endpoint::chat_completions), kIdentity, token(5, text)));
  expect_identity(body, "chat.completion.chunk");
  const json::object& choice = only_choice(body);
  EXPECT_EQ(choice.at("delta"), (json::object{{"content", text}}));
  EXPECT_TRUE(choice.at("logprobs").is_null());
  EXPECT_TRUE(choice.at("finish_reason").is_null());
}

TEST(OpenAIResponse, ACompletionsTokenChunkCarriesTheText) {
  const json::object body = parsed(token_chunk(request_for(Endpoint::completions), kIdentity, token(5, " there")));
  expect_identity(body, "text_completion");
  const json::object& choice = only_choice(body);
  EXPECT_EQ(choice.at("text").as_string(), " there");
  EXPECT_TRUE(choice.at("finish_reason").is_null());
}

TEST(OpenAIResponse, InvalidUtf8IsReplacedSoTheChunkStaysValidJson) {
  const std::string bad =
      "a\xFF"
      "b\xC3"
      "c\xED\xA0\x80";  // stray byte, cut sequence, a surrogate
  const json::object body = parsed(token_chunk(request_for(Endpoint::completions), kIdentity, token(1, bad)));
  EXPECT_EQ(only_choice(body).at("text").as_string(),
            "a\xEF\xBF\xBD"
            "b\xEF\xBF\xBD"
            "c\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(OpenAIResponse, ATokensChunkJoinsTheTextsInOrder) {
  const std::vector<Token> tokens{token(1, "He"), token(-1, ""), token(2, "llo \xC3"), token(3, "\xA9!")};
  const json::object body = parsed(tokens_chunk(request_for(Endpoint::chat_completions), kIdentity, tokens));
  EXPECT_EQ(only_choice(body).at("delta").at("content").as_string(), "Hello \xC3\xA9!")
      << "a character split across tokens is kept whole";
}

TEST(OpenAIResponse, TheFinishChunkHasAnEmptyDeltaAndTheReason) {
  const json::object chat =
      parsed(finish_chunk(request_for(Endpoint::chat_completions), kIdentity, FinishReason::length));
  EXPECT_EQ(only_choice(chat).at("delta"), json::object());
  EXPECT_EQ(only_choice(chat).at("finish_reason").as_string(), "length");
  const json::object completions =
      parsed(finish_chunk(request_for(Endpoint::completions), kIdentity, FinishReason::eos));
  EXPECT_EQ(only_choice(completions).at("text").as_string(), "");
  EXPECT_EQ(only_choice(completions).at("finish_reason").as_string(), "stop");
}

TEST(OpenAIResponse, FinishReasonsAreOpenAIs) {
  EXPECT_EQ(finish_reason_name(FinishReason::length), "length");
  EXPECT_EQ(finish_reason_name(FinishReason::stop), "stop");
  EXPECT_EQ(finish_reason_name(FinishReason::eos), "stop");
  EXPECT_EQ(finish_reason_name(FinishReason::cancelled), "stop");
  EXPECT_EQ(finish_reason_name(FinishReason::error), "stop");
  EXPECT_EQ(finish_reason_name(FinishReason::tool_calls), "tool_calls");
}

TEST(OpenAIResponse, WithIncludeUsageEveryChoiceChunkHasANullUsage) {
  CompletionRequest request = request_for(Endpoint::chat_completions);
  request.stream = true;
  request.include_usage = true;
  EXPECT_TRUE(parsed(role_chunk(request, kIdentity)).at("usage").is_null());
  EXPECT_TRUE(parsed(token_chunk(request, kIdentity, token(1, "a"))).at("usage").is_null());
  EXPECT_TRUE(parsed(finish_chunk(request, kIdentity, FinishReason::stop)).at("usage").is_null());
}

GenerateMetrics metrics(uint64_t prompt, uint64_t generated, uint64_t cached) {
  GenerateMetrics m;
  m.prompt_tokens = prompt;
  m.generated_tokens = generated;
  m.cached_prompt_tokens = cached;
  return m;
}

void expect_usage(const json::value& usage, int64_t prompt, int64_t completion, int64_t cached) {
  EXPECT_EQ(usage.at("prompt_tokens").as_int64(), prompt);
  EXPECT_EQ(usage.at("completion_tokens").as_int64(), completion);
  EXPECT_EQ(usage.at("total_tokens").as_int64(), prompt + completion);
  EXPECT_EQ(usage.at("prompt_tokens_details"), (json::object{{"cached_tokens", cached}}));
}

TEST(OpenAIResponse, TheUsageChunkHasNoChoicesAndTheRuntimesCounts) {
  const json::object body = parsed(usage_chunk(request_for(Endpoint::chat_completions), kIdentity, metrics(11, 4, 8)));
  expect_identity(body, "chat.completion.chunk");
  EXPECT_EQ(body.at("choices"), json::array());
  expect_usage(body.at("usage"), 11, 4, 8);
  expect_identity(parsed(usage_chunk(request_for(Endpoint::completions), kIdentity, metrics(1, 1, 0))),
                  "text_completion");
}

GenerateResult finished(FinishReason reason, GenerateMetrics m) {
  GenerateResult result;
  result.finish_reason = reason;
  result.metrics = m;
  return result;
}

TEST(OpenAIResponse, AFullChatResponseHasTheMessageAndUsage) {
  const std::vector<Token> tokens{token(1, "Hi"), token(2, " there")};
  const json::object body = parsed(full_response(request_for(Endpoint::chat_completions), kIdentity, tokens,
                                                 finished(FinishReason::eos, metrics(6, 2, 3))));
  expect_identity(body, "chat.completion");
  const json::object& choice = only_choice(body);
  EXPECT_EQ(choice.at("message"), (json::object{{"role", "assistant"}, {"content", "Hi there"}}));
  EXPECT_TRUE(choice.at("logprobs").is_null());
  EXPECT_EQ(choice.at("finish_reason").as_string(), "stop");
  expect_usage(body.at("usage"), 6, 2, 3);
}

CompletionRequest with_tools() {
  CompletionRequest request = request_for(Endpoint::chat_completions);
  request.config.tools = {ToolDefinition{"get_weather", "", ""}};
  return request;
}

GenerateResult called(std::vector<ToolCall> calls) {
  GenerateResult result = finished(FinishReason::tool_calls, metrics(6, 2, 3));
  result.tool_calls = std::move(calls);
  return result;
}

const json::value kCall = json::parse(
    R"({"id":"call_0","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}})");

TEST(OpenAIResponse, AFullResponseWithToolCallsHasThemAndNullContent) {
  const std::vector<Token> envelope{token(1, R"({"tool_calls":[...]})")};
  const json::object body = parsed(full_response(with_tools(), kIdentity, envelope,
                                                 called({ToolCall{"call_0", "get_weather", R"({"city":"Oslo"})"}})));
  const json::object& choice = only_choice(body);
  EXPECT_EQ(choice.at("message"),
            (json::object{{"role", "assistant"}, {"content", nullptr}, {"tool_calls", json::array{kCall}}}));
  EXPECT_EQ(choice.at("finish_reason").as_string(), "tool_calls");
}

TEST(OpenAIResponse, AFullResponseWithToolsThatAnsweredInWordsHasTheReplyNotTheEnvelope) {
  GenerateResult result = finished(FinishReason::eos, metrics(6, 2, 3));
  result.reply = "It is sunny.";
  const json::object body =
      parsed(full_response(with_tools(), kIdentity, {token(1, R"({"reply":"It is sunny."})")}, result));
  EXPECT_EQ(only_choice(body).at("message"), (json::object{{"role", "assistant"}, {"content", "It is sunny."}}));
  EXPECT_EQ(only_choice(body).at("finish_reason").as_string(), "stop");
}

TEST(OpenAIResponse, TheToolReplyChunkCarriesIndexedToolCallsOrTheWords) {
  const json::object calls = parsed(tool_reply_chunk(
      with_tools(), kIdentity,
      called({ToolCall{"call_0", "get_weather", R"({"city":"Oslo"})"}, ToolCall{"call_1", "get_weather", "{}"}})));
  expect_identity(calls, "chat.completion.chunk");
  const json::array& deltas = only_choice(calls).at("delta").at("tool_calls").as_array();
  ASSERT_EQ(deltas.size(), 2U);
  json::object first = kCall.as_object();
  first["index"] = 0;
  EXPECT_EQ(deltas[0], first);
  EXPECT_EQ(deltas[1].at("index").as_int64(), 1);
  EXPECT_EQ(deltas[1].at("id").as_string(), "call_1");
  EXPECT_TRUE(only_choice(calls).at("finish_reason").is_null());

  GenerateResult words = finished(FinishReason::eos, {});
  words.reply = "Hello";
  const json::object reply = parsed(tool_reply_chunk(with_tools(), kIdentity, words));
  EXPECT_EQ(only_choice(reply).at("delta"), (json::object{{"content", "Hello"}}));
}

TEST(OpenAIResponse, AFullCompletionsResponseHasTheText) {
  const json::object body = parsed(full_response(request_for(Endpoint::completions), kIdentity, {},
                                                 finished(FinishReason::length, metrics(3, 0, 0))));
  expect_identity(body, "text_completion");
  EXPECT_EQ(only_choice(body).at("text").as_string(), "");
  EXPECT_EQ(only_choice(body).at("finish_reason").as_string(), "length");
  expect_usage(body.at("usage"), 3, 0, 0);
}

// Alternatives as a backend reports them: most probable first; the chosen token is id 5.
std::vector<TokenProbability> alternatives() { return {{5, "a", 0.5}, {6, "b", 0.25}, {7, "c", 0.125}}; }

void expect_entry(const json::value& entry, std::string_view text, double probability) {
  EXPECT_EQ(entry.at("token").as_string(), text);
  EXPECT_DOUBLE_EQ(entry.at("logprob").to_number<double>(), std::log(probability));
  json::array bytes;
  for (const char c : text) {
    bytes.emplace_back(static_cast<int64_t>(static_cast<unsigned char>(c)));
  }
  EXPECT_EQ(entry.at("bytes"), bytes);
}

TEST(OpenAIResponse, ChatLogprobsListTheChosenTokenAndTopLogprobsAlternatives) {
  const json::object body =
      parsed(token_chunk(request_for(Endpoint::chat_completions, true, 2), kIdentity, token(5, "a", alternatives())));
  const json::array& content = only_choice(body).at("logprobs").at("content").as_array();
  ASSERT_EQ(content.size(), 1U);
  expect_entry(content[0], "a", 0.5);
  const json::array& top = content[0].at("top_logprobs").as_array();
  ASSERT_EQ(top.size(), 2U) << "as many as the request's top_logprobs";
  expect_entry(top[0], "a", 0.5);
  expect_entry(top[1], "b", 0.25);
  EXPECT_FALSE(top[0].as_object().contains("top_logprobs"));
}

TEST(OpenAIResponse, ChatLogprobsOfSeveralTokensFollowTheirOrder) {
  const std::vector<Token> tokens{token(6, "b", alternatives()), token(7, "\xC3\xA9", {{7, "\xC3\xA9", 1.0}})};
  const json::object body = parsed(full_response(request_for(Endpoint::chat_completions, true, 0), kIdentity, tokens,
                                                 finished(FinishReason::stop, {})));
  const json::array& content = only_choice(body).at("logprobs").at("content").as_array();
  ASSERT_EQ(content.size(), 2U);
  expect_entry(content[0], "b", 0.25);
  expect_entry(content[1], "\xC3\xA9", 1.0);
  EXPECT_EQ(content[1].at("bytes"), (json::array{0xC3, 0xA9}));
  EXPECT_EQ(content[0].at("top_logprobs"), json::array()) << "top_logprobs 0: no alternatives";
}

TEST(OpenAIResponse, AChosenTokenOutsideTheAlternativesGetsOpenAIsFloorLogprob) {
  const CompletionRequest request = request_for(Endpoint::chat_completions, true, 1);
  const json::object outside = parsed(token_chunk(request, kIdentity, token(9, "z", alternatives())));
  EXPECT_EQ(only_choice(outside).at("logprobs").at("content").at(0).at("logprob").to_number<double>(), -9999.0);
  const json::object no_id = parsed(token_chunk(request, kIdentity, token(-1, "", alternatives())));
  EXPECT_EQ(only_choice(no_id).at("logprobs").at("content").at(0).at("logprob").to_number<double>(), -9999.0);
}

TEST(OpenAIResponse, AZeroProbabilityStillGivesAFiniteLogprob) {
  const json::object body =
      parsed(token_chunk(request_for(Endpoint::chat_completions, true, 1), kIdentity, token(5, "a", {{5, "a", 0.0}})));
  EXPECT_EQ(only_choice(body).at("logprobs").at("content").at(0).at("logprob").to_number<double>(), -9999.0);
}

TEST(OpenAIResponse, CompletionsLogprobsUseTheLegacyParallelArrays) {
  const std::vector<Token> tokens{token(5, "a\xC3\xA9", {{5, "a\xC3\xA9", 0.5}, {6, "b", 0.25}, {8, "b", 0.1}}),
                                  token(6, "b", alternatives())};
  const json::object body = parsed(
      full_response(request_for(Endpoint::completions, true, 3), kIdentity, tokens, finished(FinishReason::stop, {})));
  const json::object& logprobs = only_choice(body).at("logprobs").as_object();
  EXPECT_EQ(logprobs.at("tokens"), (json::array{"a\xC3\xA9", "b"}));
  const json::array& token_logprobs = logprobs.at("token_logprobs").as_array();
  ASSERT_EQ(token_logprobs.size(), 2U);
  EXPECT_DOUBLE_EQ(token_logprobs[0].to_number<double>(), std::log(0.5));
  EXPECT_DOUBLE_EQ(token_logprobs[1].to_number<double>(), std::log(0.25));
  const json::array& top = logprobs.at("top_logprobs").as_array();
  ASSERT_EQ(top.size(), 2U);
  EXPECT_EQ(top[0].as_object().size(), 2U) << "a repeated text is listed once: " << top[0];
  EXPECT_DOUBLE_EQ(top[0].at("b").to_number<double>(), std::log(0.25));
  EXPECT_EQ(top[1].as_object().size(), 3U);
  EXPECT_DOUBLE_EQ(top[1].at("c").to_number<double>(), std::log(0.125));
  EXPECT_EQ(logprobs.at("text_offset"), (json::array{0, 2})) << "offsets count code points";
}

TEST(OpenAIResponse, ACompletionsTokenChunkHasItsOwnLegacyLogprobs) {
  const json::object body =
      parsed(token_chunk(request_for(Endpoint::completions, true, 1), kIdentity, token(5, "a", alternatives())));
  const json::object& logprobs = only_choice(body).at("logprobs").as_object();
  EXPECT_EQ(logprobs.at("tokens"), (json::array{"a"}));
  EXPECT_EQ(logprobs.at("top_logprobs").at(0).as_object().size(), 1U);
  EXPECT_EQ(logprobs.at("text_offset"), (json::array{0}));
}

TEST(OpenAIResponse, TheModelListHasOpenAIsShape) {
  const json::object body = parsed(models_list({{"tiny", 1700000000}, {"big \"one\"", 5}}));
  EXPECT_EQ(body.at("object").as_string(), "list");
  const json::array& data = body.at("data").as_array();
  ASSERT_EQ(data.size(), 2U);
  EXPECT_EQ(data[0],
            (json::object{{"id", "tiny"}, {"object", "model"}, {"created", 1700000000}, {"owned_by", "llmctl"}}));
  EXPECT_EQ(data[1].at("id").as_string(), "big \"one\"");
  EXPECT_EQ(parsed(models_list({})).at("data"), json::array());
}

}  // namespace
}  // namespace inference::gateway
