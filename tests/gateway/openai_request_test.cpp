// Tests for include/inference/gateway/openai_request.hpp
#include "inference/gateway/openai_request.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "inference/gateway/api_error.hpp"

namespace inference::gateway {
namespace {

constexpr Endpoint kChat = Endpoint::chat_completions;
constexpr Endpoint kCompletions = Endpoint::completions;

CompletionRequest parse(Endpoint endpoint, std::string_view body, const RequestLimits& limits = {}) {
  return parse_completion_request(endpoint, body, limits);
}

// The error parse_completion_request throws for `body`; a failure (and status 0) when it accepts it.
ApiError refusal(Endpoint endpoint, std::string_view body, const RequestLimits& limits = {}) {
  try {
    (void)parse_completion_request(endpoint, body, limits);
  } catch (const ApiError& error) {
    return error;
  }
  ADD_FAILURE() << "accepted: " << body;
  return ApiError(0, "", "", "accepted");
}

// A chat body with the given extra fields after model and a one-message conversation.
std::string chat_with(std::string_view extra) {
  return std::string(R"({"model":"m","messages":[{"role":"user","content":"hi"}])") + (extra.empty() ? "" : ",") +
         std::string(extra) + "}";
}

std::string completion_with(std::string_view extra) {
  return std::string(R"({"model":"m","prompt":"Once")") + (extra.empty() ? "" : ",") + std::string(extra) + "}";
}

TEST(OpenAIRequest, EveryChatFieldReachesTheRequest) {
  const CompletionRequest request = parse(kChat, R"({
    "model": "tiny",
    "messages": [
      {"role": "system", "content": "be brief"},
      {"role": "developer", "content": "be kind"},
      {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}], "name": "al"},
      {"role": "assistant", "content": "ok"}],
    "max_tokens": 12, "temperature": 0.5, "top_p": 0.25, "seed": 42, "stop": ["a", "b"], "n": 1,
    "stream": true, "stream_options": {"include_usage": true}, "user": "alice",
    "logprobs": true, "top_logprobs": 3})");
  EXPECT_EQ(request.endpoint, kChat);
  EXPECT_EQ(request.model, "tiny");
  ASSERT_EQ(request.messages.size(), 4U);
  EXPECT_EQ(request.messages[0].role, "system");
  EXPECT_EQ(request.messages[0].content, "be brief");
  EXPECT_EQ(request.messages[1].role, "system") << "developer is stored as system";
  EXPECT_EQ(request.messages[1].content, "be kind");
  EXPECT_EQ(request.messages[2].role, "user");
  EXPECT_EQ(request.messages[2].content, "one\ntwo") << "text parts are joined with a line break";
  EXPECT_EQ(request.messages[3].role, "assistant");
  EXPECT_EQ(request.prompt, "");
  EXPECT_EQ(request.config.max_tokens, 12);
  EXPECT_EQ(request.config.temperature, 0.5F);
  EXPECT_EQ(request.config.top_p, 0.25F);
  EXPECT_EQ(request.config.seed, 42U);
  EXPECT_EQ(request.config.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(request.config.session, "alice");
  EXPECT_TRUE(request.stream);
  EXPECT_TRUE(request.include_usage);
  EXPECT_TRUE(request.logprobs);
  EXPECT_EQ(request.top_logprobs, 3);
  EXPECT_EQ(request.config.logprobs, 3);
}

TEST(OpenAIRequest, EveryCompletionsFieldReachesTheRequest) {
  const CompletionRequest request = parse(kCompletions, R"({"model": "tiny", "prompt": "Once upon",
    "max_completion_tokens": 7, "temperature": 0, "top_p": 1, "seed": 18446744073709551615, "stop": "\n",
    "stream": false, "user": "bob", "logprobs": 2})");
  EXPECT_EQ(request.endpoint, kCompletions);
  EXPECT_EQ(request.prompt, "Once upon");
  EXPECT_TRUE(request.messages.empty());
  EXPECT_EQ(request.config.max_tokens, 7);
  EXPECT_EQ(request.config.temperature, 0.0F);
  EXPECT_EQ(request.config.top_p, 1.0F);
  EXPECT_EQ(request.config.seed, std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(request.config.stop, (std::vector<std::string>{"\n"}));
  EXPECT_EQ(request.config.session, "bob");
  EXPECT_FALSE(request.stream);
  EXPECT_TRUE(request.logprobs);
  EXPECT_EQ(request.top_logprobs, 2);
  EXPECT_EQ(request.config.logprobs, 2);
}

TEST(OpenAIRequest, AMinimalBodyLeavesEveryOptionAtTheBackendDefault) {
  const CompletionRequest request = parse(kChat, chat_with(""));
  EXPECT_FALSE(request.config.max_tokens.has_value());
  EXPECT_FALSE(request.config.temperature.has_value());
  EXPECT_FALSE(request.config.top_p.has_value());
  EXPECT_FALSE(request.config.seed.has_value());
  EXPECT_TRUE(request.config.stop.empty());
  EXPECT_EQ(request.config.logprobs, 0);
  EXPECT_EQ(request.config.session, "");
  EXPECT_FALSE(request.stream);
  EXPECT_FALSE(request.include_usage);
  EXPECT_FALSE(request.logprobs);
}

TEST(OpenAIRequest, NullFieldsCountAsAbsent) {
  const CompletionRequest request = parse(kChat, chat_with(R"("max_tokens":null,"temperature":null,"stop":null,
    "n":null,"stream":null,"stream_options":null,"user":null,"logprobs":null,"top_logprobs":null,"tools":null,
    "response_format":null,"logit_bias":null,"presence_penalty":null,"audio":null,"prediction":null)"));
  EXPECT_FALSE(request.config.max_tokens.has_value());
  EXPECT_FALSE(request.logprobs);
}

TEST(OpenAIRequest, UnknownFieldsAreIgnored) {
  const CompletionRequest request =
      parse(kChat, chat_with(R"("top_k": 5, "metadata": {"a": "b"}, "store": false, "x-anything": [1, 2])"));
  EXPECT_EQ(request.model, "m");
}

TEST(OpenAIRequest, ChatLogprobsWithoutTopLogprobsAskTheBackendForOneAlternative) {
  const CompletionRequest request = parse(kChat, chat_with(R"("logprobs": true)"));
  EXPECT_TRUE(request.logprobs);
  EXPECT_EQ(request.top_logprobs, 0);
  EXPECT_EQ(request.config.logprobs, 1);
  EXPECT_EQ(parse(kChat, chat_with(R"("logprobs": false)")).config.logprobs, 0);
}

TEST(OpenAIRequest, CompletionsLogprobsZeroReportsTheChosenTokenOnly) {
  const CompletionRequest request = parse(kCompletions, completion_with(R"("logprobs": 0)"));
  EXPECT_TRUE(request.logprobs);
  EXPECT_EQ(request.top_logprobs, 0);
  EXPECT_EQ(request.config.logprobs, 1);
}

TEST(OpenAIRequest, APromptArrayOfOneStringIsThatPrompt) {
  EXPECT_EQ(parse(kCompletions, R"({"model":"m","prompt":["just one"]})").prompt, "just one");
}

TEST(OpenAIRequest, MaxTokensAndMaxCompletionTokensMayBothBeSentWhenEqual) {
  EXPECT_EQ(parse(kChat, chat_with(R"("max_tokens": 9, "max_completion_tokens": 9)")).config.max_tokens, 9);
}

TEST(OpenAIRequest, AnIntegralNumberWrittenAsADoubleCountsAsAnInteger) {
  EXPECT_EQ(parse(kChat, chat_with(R"("max_tokens": 5.0, "seed": 3e3)")).config.max_tokens, 5);
  EXPECT_EQ(parse(kChat, chat_with(R"("seed": 3e3)")).config.seed, 3000U);
}

TEST(OpenAIRequest, UnsupportedFieldsAreAcceptedAtTheValueThatAsksForNothing) {
  const CompletionRequest request = parse(kChat, chat_with(R"("tools": [], "tool_choice": "none",
    "parallel_tool_calls": true, "functions": [], "function_call": "auto", "response_format": {"type": "text"},
    "echo": false, "best_of": 1, "suffix": "", "logit_bias": {}, "presence_penalty": 0, "frequency_penalty": 0.0,
    "modalities": ["text"])"));
  EXPECT_EQ(request.model, "m");
  EXPECT_TRUE(request.config.tools.empty());
  EXPECT_TRUE(request.config.json_schema.empty());
  EXPECT_TRUE(request.config.logit_bias.empty());
  const CompletionRequest completion = parse(kCompletions, completion_with(R"("tools": [], "tool_choice": "auto",
    "parallel_tool_calls": true, "response_format": {"type": "text"})"));
  EXPECT_TRUE(completion.config.tools.empty());
}

TEST(OpenAIRequest, ResponseFormatJsonObjectAndJsonSchemaBecomeTheConfigsSchema) {
  EXPECT_EQ(parse(kChat, chat_with(R"("response_format":{"type":"json_object"})")).config.json_schema,
            R"({"type":"object"})");
  const CompletionRequest request = parse(kChat, chat_with(R"("response_format":{"type":"json_schema",
    "json_schema":{"name":"answer","strict":true,"schema":{"type":"object","properties":{"n":{"type":"integer"}}}}})"));
  EXPECT_EQ(boost::json::parse(request.config.json_schema),
            boost::json::parse(R"({"type":"object","properties":{"n":{"type":"integer"}}})"));
}

TEST(OpenAIRequest, LogitBiasMapsTokenIdsToBiasesAndMinus100Forbids) {
  const CompletionRequest request = parse(kCompletions, completion_with(R"("logit_bias":{"15043":-100,"7":2.5})"));
  ASSERT_EQ(request.config.logit_bias.size(), 2U);
  EXPECT_EQ(request.config.logit_bias[0].token, 15043);
  EXPECT_TRUE(std::isinf(request.config.logit_bias[0].bias) && request.config.logit_bias[0].bias < 0);
  EXPECT_EQ(request.config.logit_bias[1].token, 7);
  EXPECT_FLOAT_EQ(request.config.logit_bias[1].bias, 2.5F);
}

TEST(OpenAIRequest, ToolsToolChoiceAndParallelToolCallsAreRead) {
  const CompletionRequest request = parse(kChat, chat_with(R"("tools":[{"type":"function","function":{"name":"f",
    "description":"does f","parameters":{"type":"object","properties":{"x":{"type":"integer"}}},"strict":true}},
    {"type":"function","function":{"name":"g"}}],"tool_choice":{"type":"function","function":{"name":"g"}},
    "parallel_tool_calls":false)"));
  ASSERT_EQ(request.config.tools.size(), 2U);
  EXPECT_EQ(request.config.tools[0].name, "f");
  EXPECT_EQ(request.config.tools[0].description, "does f");
  EXPECT_EQ(boost::json::parse(request.config.tools[0].parameters),
            boost::json::parse(R"({"type":"object","properties":{"x":{"type":"integer"}}})"));
  EXPECT_EQ(request.config.tools[1].parameters, "");
  EXPECT_EQ(request.config.tool_choice, ToolChoice::named);
  EXPECT_EQ(request.config.tool_name, "g");
  EXPECT_FALSE(request.config.parallel_tool_calls);
  EXPECT_TRUE(parses_tool_reply(request));
  const std::string tool = R"("tools":[{"type":"function","function":{"name":"f"}}])";
  EXPECT_EQ(parse(kChat, chat_with(tool)).config.tool_choice, ToolChoice::automatic);
  EXPECT_EQ(parse(kChat, chat_with(tool + R"(,"tool_choice":"required")")).config.tool_choice, ToolChoice::required);
  const CompletionRequest none = parse(kChat, chat_with(tool + R"(,"tool_choice":"none")"));
  EXPECT_EQ(none.config.tool_choice, ToolChoice::none);
  EXPECT_FALSE(parses_tool_reply(none));
}

TEST(OpenAIRequest, AssistantToolCallsAndToolMessagesAreRead) {
  const CompletionRequest request = parse(kChat, R"({"model":"m","messages":[{"role":"user","content":"w?"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"call_0","type":"function",
      "function":{"name":"f","arguments":"{\"x\":1}"}}]},
    {"role":"tool","tool_call_id":"call_0","content":"sunny"}]})");
  ASSERT_EQ(request.messages.size(), 3U);
  EXPECT_EQ(request.messages[1].role, "assistant");
  EXPECT_EQ(request.messages[1].content, "");
  ASSERT_EQ(request.messages[1].tool_calls.size(), 1U);
  EXPECT_EQ(request.messages[1].tool_calls[0].id, "call_0");
  EXPECT_EQ(request.messages[1].tool_calls[0].name, "f");
  EXPECT_EQ(request.messages[1].tool_calls[0].arguments, R"({"x":1})");
  EXPECT_EQ(request.messages[2].role, "tool");
  EXPECT_EQ(request.messages[2].tool_call_id, "call_0");
  EXPECT_EQ(request.messages[2].content, "sunny");
}

struct Refused {
  Endpoint endpoint;
  std::string body;
  std::string param;
  std::string says;  // a fragment of the message: the value or the reason
};

void expect_refused(const Refused& c) {
  const ApiError error = refusal(c.endpoint, c.body);
  EXPECT_EQ(error.status(), 400U) << c.body;
  EXPECT_EQ(error.type(), "invalid_request_error") << c.body;
  EXPECT_EQ(error.code(), "invalid_argument") << c.body;
  EXPECT_EQ(error.param(), c.param) << c.body << " -> " << error.what();
  EXPECT_NE(std::string(error.what()).find(c.says), std::string::npos)
      << c.body << " -> " << error.what() << " (expected it to say " << c.says << ")";
  EXPECT_EQ(std::string(error.what()).find('\n'), std::string::npos) << error.what();
}

TEST(OpenAIRequest, ModelAndMessagesAreCheckedNamingTheField) {
  const Refused cases[] = {
      {kChat, R"({"messages":[{"role":"user","content":"x"}]})", "model", "model is required"},
      {kChat, R"({"model":"","messages":[{"role":"user","content":"x"}]})", "model", "must not be empty"},
      {kChat, R"({"model":7,"messages":[{"role":"user","content":"x"}]})", "model", "got 7"},
      {kChat, R"({"model":"m"})", "messages", "messages is required"},
      {kChat, R"({"model":"m","messages":"hi"})", "messages", "got \"hi\""},
      {kChat, R"({"model":"m","messages":[]})", "messages", "must not be empty"},
      {kChat, R"({"model":"m","messages":[5]})", "messages[0]", "got 5"},
      {kChat, R"({"model":"m","messages":[{"content":"x"}]})", "messages[0].role", "is required"},
      {kChat, R"({"model":"m","messages":[{"role":"function","content":"x"}]})", "messages[0].role",
       "legacy functions API"},
      {kChat, R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":"wizard","content":"x"}]})",
       "messages[1].role", "\"wizard\" is not a known role"},
      {kChat, R"({"model":"m","messages":[{"role":"user"}]})", "messages[0].content", "is required"},
      {kChat, R"({"model":"m","messages":[{"role":"user","content":null}]})", "messages[0].content", "got null"},
      {kChat, R"({"model":"m","messages":[{"role":"user","content":12}]})", "messages[0].content", "got 12"},
      {kChat,
       R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url",
          "image_url":{"url":"http://x/y.png"}}]}]})",
       "messages[0].content[1].type", "\"image_url\" is refused: only text"},
      {kChat, R"({"model":"m","messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]})",
       "messages[0].content[0].type", "input_audio"},
      {kChat, R"({"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]})",
       "messages[0].content[0].text", "is required"},
      {kChat, R"({"model":"m","messages":[{"role":"user","content":["a"]}]})", "messages[0].content[0]",
       "content part object"},
      {kChat, R"({"model":"m","messages":[{"role":"assistant","content":"","function_call":{"name":"f"}}]})",
       "messages[0].function_call", "legacy functions API"},
  };
  for (const Refused& c : cases) {
    expect_refused(c);
  }
}

TEST(OpenAIRequest, ThePromptIsCheckedNamingTheField) {
  const Refused cases[] = {
      {kCompletions, R"({"model":"m"})", "prompt", "prompt is required"},
      {kCompletions, R"({"model":"m","prompt":null})", "prompt", "prompt is required"},
      {kCompletions, R"({"model":"m","prompt":[1,2,3]})", "prompt", "prompt as token ids is not supported"},
      {kCompletions, R"({"model":"m","prompt":[[1,2]]})", "prompt", "prompt as token ids is not supported"},
      {kCompletions, R"({"model":"m","prompt":["a","b"]})", "prompt", "2 prompts"},
      {kCompletions, R"({"model":"m","prompt":[]})", "prompt", "an array of 0 elements"},
      {kCompletions, R"({"model":"m","prompt":5})", "prompt", "got 5"},
  };
  for (const Refused& c : cases) {
    expect_refused(c);
  }
}

TEST(OpenAIRequest, SamplingFieldsAreRangeCheckedNamingFieldAndValue) {
  const Refused cases[] = {
      {kChat, chat_with(R"("max_tokens":-1)"), "max_tokens", "from 0 to 32768, got -1"},
      {kChat, chat_with(R"("max_tokens":32769)"), "max_tokens", "got 32769"},
      {kChat, chat_with(R"("max_tokens":1.5)"), "max_tokens", "got 1.5"},
      {kChat, chat_with(R"("max_tokens":"10")"), "max_tokens", "got \"10\""},
      {kChat, chat_with(R"("max_tokens":1e300)"), "max_tokens", "got 1e+300"},
      {kChat, chat_with(R"("max_tokens":1e999)"), "max_tokens", "got inf"},
      {kChat, chat_with(R"("max_tokens":18446744073709551615)"), "max_tokens", "got 18446744073709551615"},
      {kChat, chat_with(R"("max_tokens":true)"), "max_tokens", "got true"},
      {kChat, chat_with(R"("max_completion_tokens":99999999)"), "max_completion_tokens", "got 99999999"},
      {kChat, chat_with(R"("max_tokens":5,"max_completion_tokens":6)"), "max_completion_tokens", "disagree"},
      {kChat, chat_with(R"("temperature":2.5)"), "temperature", "from 0 to 2, got 2.5"},
      {kChat, chat_with(R"("temperature":-0.1)"), "temperature", "got -0.1"},
      {kChat, chat_with(R"("temperature":"hot")"), "temperature", "got \"hot\""},
      {kChat, chat_with(R"("temperature":-1e999)"), "temperature", "got -inf"},
      {kChat, chat_with(R"("top_p":1.5)"), "top_p", "from 0 to 1, got 1.5"},
      {kChat, chat_with(R"("seed":-1)"), "seed", "got -1"},
      {kChat, chat_with(R"("seed":1.5)"), "seed", "got 1.5"},
      {kChat, chat_with(R"("seed":1e20)"), "seed", "got 1e+20"},
      {kChat, chat_with(R"("seed":"x")"), "seed", "got \"x\""},
      {kChat, chat_with(R"("stop":"")"), "stop", "must not be an empty string"},
      {kChat, chat_with(R"("stop":["a",""])"), "stop[1]", "must not be an empty string"},
      {kChat, chat_with(R"("stop":["a",1])"), "stop[1]", "got 1"},
      {kChat, chat_with(R"("stop":5)"), "stop", "got 5"},
      {kChat, chat_with(R"("stop":["1","2","3","4","5","6","7","8","9","10","11","12","13","14","15","16","17"])"),
       "stop", "17 strings, more than the limit of 16"},
      {kChat, chat_with(R"("n":2)"), "n", "got 2"},
      {kChat, chat_with(R"("n":0)"), "n", "got 0"},
      {kChat, chat_with(R"("user":5)"), "user", "got 5"},
  };
  for (const Refused& c : cases) {
    expect_refused(c);
  }
}

TEST(OpenAIRequest, StreamingAndLogprobFieldsAreCheckedNamingTheField) {
  const Refused cases[] = {
      {kChat, chat_with(R"("stream":"yes")"), "stream", "must be true or false, got \"yes\""},
      {kChat, chat_with(R"("stream_options":{"include_usage":true})"), "stream_options", "only allowed when stream"},
      {kChat, chat_with(R"("stream":false,"stream_options":{})"), "stream_options", "only allowed when stream"},
      {kChat, chat_with(R"("stream":true,"stream_options":5)"), "stream_options", "got 5"},
      {kChat, chat_with(R"("stream":true,"stream_options":{"include_usage":1})"), "stream_options.include_usage",
       "got 1"},
      {kChat, chat_with(R"("logprobs":1)"), "logprobs", "must be true or false"},
      {kChat, chat_with(R"("logprobs":true,"top_logprobs":21)"), "top_logprobs", "from 0 to 20, got 21"},
      {kChat, chat_with(R"("top_logprobs":2)"), "top_logprobs", "only allowed when logprobs is true"},
      {kChat, chat_with(R"("logprobs":false,"top_logprobs":2)"), "top_logprobs", "only allowed when logprobs"},
      {kCompletions, completion_with(R"("logprobs":21)"), "logprobs", "from 0 to 20, got 21"},
      {kCompletions, completion_with(R"("logprobs":true)"), "logprobs", "got true"},
  };
  for (const Refused& c : cases) {
    expect_refused(c);
  }
}

TEST(OpenAIRequest, FieldsTheRuntimeCannotHonourAreRefusedNamingTheField) {
  const Refused cases[] = {
      {kChat, chat_with(R"("functions":[{"name":"f"}])"), "functions", "use tools"},
      {kChat, chat_with(R"("function_call":{"name":"f"})"), "function_call", "use tools"},
      {kCompletions, completion_with(R"("echo":true)"), "echo", "echo = true is refused"},
      {kCompletions, completion_with(R"("best_of":3)"), "best_of", "best_of = 3 is refused"},
      {kCompletions, completion_with(R"("suffix":"end")"), "suffix", "suffix = \"end\" is refused"},
      {kChat, chat_with(R"("presence_penalty":0.5)"), "presence_penalty", "presence_penalty = 0.5 is refused"},
      {kChat, chat_with(R"("frequency_penalty":-1)"), "frequency_penalty", "frequency_penalty = -1 is refused"},
      {kChat, chat_with(R"("audio":{"voice":"alloy","format":"wav"})"), "audio", "audio output"},
      {kChat, chat_with(R"("modalities":["text","audio"])"), "modalities", "modality"},
      {kChat, chat_with(R"("prediction":{"type":"content","content":"x"})"), "prediction", "predicted outputs"},
  };
  for (const Refused& c : cases) {
    expect_refused(c);
  }
}

TEST(OpenAIRequest, ABodyWithBadToolsHearsAboutToolsBeforeItsToolMessages) {
  expect_refused({kChat,
                  R"({"model":"m","messages":[{"role":"tool","content":"sunny"}],"tools":[{"type":"function"}]})",
                  "tools[0].function", "required"});
}

TEST(OpenAIRequest, ABodyForTheOtherEndpointSaysSo) {
  expect_refused({kChat, R"({"model":"m","prompt":"hello"})", "messages", "/v1/completions"});
  expect_refused(
      {kCompletions, R"({"model":"m","messages":[{"role":"user","content":"x"}]})", "prompt", "/v1/chat/completions"});
}

TEST(OpenAIRequest, ABodyThatIsNotAJsonObjectIsRefused) {
  for (const std::string_view body : {"[]", "5", "\"x\"", "null", "true"}) {
    const ApiError error = refusal(kChat, body);
    EXPECT_EQ(error.status(), 400U) << body;
    EXPECT_EQ(error.code(), "invalid_argument") << body;
    EXPECT_NE(std::string(error.what()).find("must be a JSON object"), std::string::npos) << error.what();
  }
}

TEST(OpenAIRequest, ABodyThatIsNotJsonIsRefusedAsInvalidJson) {
  for (const std::string_view body : {"", "{", "nope", "{\"model\":\"m\",}", "{\"model\":\"\xff\"}", "{} {}"}) {
    const ApiError error = refusal(kCompletions, body);
    EXPECT_EQ(error.status(), 400U) << body;
    EXPECT_EQ(error.type(), "invalid_request_error");
    EXPECT_EQ(error.code(), "invalid_json") << body << " -> " << error.what();
    EXPECT_EQ(error.param(), "");
  }
}

std::string nested(std::size_t depth) {
  return completion_with(R"("deep":)" + std::string(depth, '[') + std::string(depth, ']'));
}

TEST(OpenAIRequest, ABodyNestedBeyondTheDepthLimitIsRefusedAsInvalidJson) {
  RequestLimits limits;
  limits.max_json_depth = 4;
  EXPECT_EQ(parse(kCompletions, nested(3), limits).prompt, "Once") << "the object and 3 arrays: 4 levels";
  const ApiError error = refusal(kCompletions, nested(4), limits);
  EXPECT_EQ(error.status(), 400U);
  EXPECT_EQ(error.code(), "invalid_json");
  EXPECT_NE(std::string(error.what()).find("deeper than the limit of 4"), std::string::npos) << error.what();
  // Far beyond the default limit: refused the same way, without recursing that deep.
  EXPECT_EQ(refusal(kCompletions, nested(100000)).code(), "invalid_json");
}

TEST(OpenAIRequest, MoreMessagesThanTheLimitAreRefused) {
  RequestLimits limits;
  limits.max_messages = 2;
  const std::string two = R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"}]})";
  EXPECT_EQ(parse(kChat, two, limits).messages.size(), 2U);
  const std::string three = R"({"model":"m","messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},)"
                            R"({"role":"user","content":"c"}]})";
  const ApiError error = refusal(kChat, three, limits);
  EXPECT_EQ(error.status(), 400U);
  EXPECT_EQ(error.param(), "messages");
  EXPECT_NE(std::string(error.what()).find("3 messages, more than the limit of 2"), std::string::npos);
}

TEST(OpenAIRequest, MaxTokensAboveTheConfiguredLimitIsRefused) {
  RequestLimits limits;
  limits.max_tokens = 100;
  EXPECT_EQ(parse(kChat, chat_with(R"("max_tokens":100)"), limits).config.max_tokens, 100);
  const ApiError error = refusal(kChat, chat_with(R"("max_tokens":101)"), limits);
  EXPECT_EQ(error.param(), "max_tokens");
  EXPECT_NE(std::string(error.what()).find("from 0 to 100, got 101"), std::string::npos) << error.what();
}

TEST(OpenAIRequest, TopLogprobsAboveTheConfiguredLimitIsRefused) {
  RequestLimits limits;
  limits.max_top_logprobs = 5;
  EXPECT_EQ(parse(kCompletions, completion_with(R"("logprobs":5)"), limits).config.logprobs, 5);
  EXPECT_EQ(refusal(kCompletions, completion_with(R"("logprobs":6)"), limits).param(), "logprobs");
}

TEST(OpenAIRequest, ALongValueIsQuotedShortInTheMessage) {
  const std::string role(5000, 'x');
  const ApiError error = refusal(kChat, R"({"model":"m","messages":[{"role":")" + role + R"(","content":"c"}]})");
  EXPECT_EQ(error.param(), "messages[0].role");
  EXPECT_LT(std::string(error.what()).size(), 200U) << error.what();
  EXPECT_NE(std::string(error.what()).find("xxx\"..."), std::string::npos) << error.what();
}

TEST(OpenAIRequest, StructuredOutputAndToolFieldsAreCheckedNamingTheField) {
  const std::string tool = R"("tools":[{"type":"function","function":{"name":"f"}}])";
  const Refused cases[] = {
      {kChat, chat_with(R"("response_format":{"type":"xml"})"), "response_format.type", "\"xml\""},
      {kChat, chat_with(R"("response_format":{"type":"json_schema"})"), "response_format.json_schema", "required"},
      {kChat, chat_with(R"("response_format":{"type":"json_schema","json_schema":{"name":"a","schema":5}})"),
       "response_format.json_schema.schema", "got 5"},
      {kChat, chat_with(R"("logit_bias":{"abc":1})"), "logit_bias", "not a token id"},
      {kChat, chat_with(R"("logit_bias":{"5":101})"), "logit_bias[\"5\"]", "got 101"},
      {kChat, chat_with(R"("logit_bias":[1])"), "logit_bias", "must be an object"},
      {kChat, chat_with(R"("tools":{"name":"f"})"), "tools", "must be an array"},
      {kChat, chat_with(R"("tools":[{"type":"retrieval"}])"), "tools[0].type", "only \"function\""},
      {kChat, chat_with(R"("tools":[{"type":"function","function":{}}])"), "tools[0].function.name", "required"},
      {kChat, chat_with(R"("tools":[{"type":"function","function":{"name":"a b"}}])"), "tools[0].function.name",
       "not a tool name"},
      {kChat, chat_with(R"("tools":[{"type":"function","function":{"name":"f","parameters":"{}"}}])"),
       "tools[0].function.parameters", "must be an object"},
      {kChat, chat_with(tool + R"(,"tool_choice":"maybe")"), "tool_choice", "\"maybe\""},
      {kChat, chat_with(R"("tool_choice":"required")"), "tool_choice", "tools is empty"},
      {kChat, chat_with(tool + R"(,"tool_choice":{"type":"function","function":{"name":"g"}})"),
       "tool_choice.function.name", "not one of the tools"},
      {kChat, chat_with(tool + R"(,"parallel_tool_calls":"no")"), "parallel_tool_calls", "got \"no\""},
      {kChat, chat_with(tool + R"(,"response_format":{"type":"json_object"})"), "response_format",
       "cannot be combined with tools"},
      {kChat, R"({"model":"m","messages":[{"role":"tool","content":"x"}]})", "messages[0].tool_call_id", "required"},
      {kChat, R"({"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c"}]}]})",
       "messages[0].tool_calls[0].type", "required"},
      {kChat, R"({"model":"m","messages":[{"role":"user","content":"x","tool_calls":[{"id":"c"}]}]})",
       "messages[0].tool_calls", "only allowed in an assistant message"},
      {kCompletions, completion_with(tool), "tools", "/v1/chat/completions field"},
      {kCompletions, completion_with(R"("response_format":{"type":"json_object"})"), "response_format",
       "/v1/chat/completions field"},
  };
  for (const Refused& c : cases) {
    expect_refused(c);
  }
}

}  // namespace
}  // namespace inference::gateway
