// chat() with tools against the real llama-server: the tiny model with a template that renders
// tools (support/tool_template_model.hpp), its output constrained by the tool envelope
// (tool_envelope.hpp), so even a random model's calls parse and match their tool's schema.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <set>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "inference/llama_server/apply_template_request.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "llama_cpp_fixture.hpp"
#include "stream_helpers.hpp"
#include "support/scratch_directory.hpp"
#include "support/tool_template_model.hpp"

namespace inference::llama_cpp::test {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;

constexpr uint32_t kSlots = 1;
constexpr uint32_t kContextPerSlot = 2048;
// Room for a whole envelope: the tiny model's calls take about 50 tokens.
constexpr int32_t kEnvelopeTokens = 400;
// Far too few for any envelope: cuts it short.
constexpr int32_t kCutShort = 3;

// Bounded schemas: every value the model can write is one a test can check.
constexpr std::string_view kWeatherParameters =
    R"({"type":"object","properties":{"city":{"enum":["Paris","Oslo"]},"days":{"type":"integer","minimum":1,)"
    R"("maximum":7}},"required":["city","days"],"additionalProperties":false})";
constexpr std::string_view kLightParameters =
    R"({"type":"object","properties":{"on":{"type":"boolean"}},"required":["on"],"additionalProperties":false})";

std::vector<ToolDefinition> tools() {
  return {ToolDefinition{"get_weather", "The weather forecast for a city", std::string(kWeatherParameters)},
          ToolDefinition{"set_light", "Switches the light", std::string(kLightParameters)}};
}

GenerateConfig with_tools(ToolChoice choice, int32_t max_tokens = kEnvelopeTokens) {
  GenerateConfig config;
  config.max_tokens = max_tokens;
  config.temperature = 0.0F;
  config.tools = tools();
  config.tool_choice = choice;
  return config;
}

std::vector<Message> question() { return {Message{"user", "What is the weather in Paris tomorrow?"}}; }

// The arguments match their tool's schema: exactly the required keys, values in range.
void expect_matches_schema(const ToolCall& call) {
  const json::value arguments = json::parse(call.arguments);
  ASSERT_TRUE(arguments.is_object()) << call.arguments;
  const json::object& object = arguments.get_object();
  if (call.name == "get_weather") {
    ASSERT_EQ(object.size(), 2U) << call.arguments;
    const std::string city(object.at("city").as_string());
    EXPECT_TRUE(city == "Paris" || city == "Oslo") << call.arguments;
    const int64_t days = object.at("days").as_int64();
    EXPECT_GE(days, 1);
    EXPECT_LE(days, 7);
  } else {
    ASSERT_EQ(call.name, "set_light");
    ASSERT_EQ(object.size(), 1U) << call.arguments;
    EXPECT_TRUE(object.at("on").is_bool()) << call.arguments;
  }
}

void expect_valid_calls(const GenerateResult& result) {
  ASSERT_EQ(result.finish_reason, FinishReason::tool_calls);
  ASSERT_FALSE(result.tool_calls.empty());
  EXPECT_TRUE(result.reply.empty());
  for (std::size_t i = 0; i < result.tool_calls.size(); ++i) {
    EXPECT_EQ(result.tool_calls[i].id, "call_" + std::to_string(i));
    expect_matches_schema(result.tool_calls[i]);
  }
}

std::string text_of(const std::vector<Token>& tokens) {
  std::string text;
  for (const Token& token : tokens) text += token.text;
  return text;
}

class ToolModel {
 public:
  ToolModel() { inference::test::write_tool_template_model(test_model_path(), path()); }
  std::string path() const { return (directory_ / "tiny-tools.gguf").string(); }
  asio::awaitable<std::shared_ptr<LlamaServerModel>> load() const {
    co_return co_await LlamaServerModel::load(path(), tiny_options(kSlots, kContextPerSlot));
  }

 private:
  inference::test::ScratchDirectory directory_{"tool-template-model"};
};

// Outside the coroutine: GCC 12 rejects a braced json::object of literals inside one.
std::string tokenize_body(const std::string& text) {
  return json::serialize(json::object{{"content", text}, {"add_special", true}});
}

// How many tokens the server makes of the prompt its template renders for `messages`.
asio::awaitable<uint64_t> rendered_prompt_tokens(const ServerEndpoint& endpoint, const std::vector<Message>& messages,
                                                 std::string& rendered) {
  std::vector<llama_server::ChatMessage> chat;
  for (const Message& m : messages) chat.push_back({m.role, m.content, m.tool_calls, m.tool_call_id});
  llama_server::HttpConnection connection(co_await asio::this_coro::executor, endpoint);
  const auto response = co_await connection.request(llama_server::HttpMethod::post, "/apply-template",
                                                    llama_server::apply_template_request_body(chat, tools()));
  rendered = llama_server::parse_apply_template_response(response.body);
  const auto tokens = co_await connection.request(llama_server::HttpMethod::post, "/tokenize", tokenize_body(rendered));
  co_return json::parse(tokens.body).at("tokens").as_array().size();
}

TEST(LlamaCppToolsTest, RequiredChoiceReturnsCallsThatMatchTheirToolsSchemas) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ToolModel tool_model;
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await tool_model.load();
    TokenStream stream = model->chat(question(), with_tools(ToolChoice::required));
    const std::vector<Token> tokens = co_await drain(stream);
    const GenerateResult result = stream.result();
    expect_valid_calls(result);
    // The streamed tokens are the envelope the calls were read from.
    const json::value envelope = json::parse(text_of(tokens));
    EXPECT_EQ(envelope.at("tool_calls").as_array().size(), result.tool_calls.size());
    co_await model->close();
  });
}

TEST(LlamaCppToolsTest, NamedChoiceCallsOnlyThatToolAndParallelFalseMakesOneCall) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ToolModel tool_model;
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await tool_model.load();
    for (const std::string name : {"get_weather", "set_light"}) {
      GenerateConfig config = with_tools(ToolChoice::named);
      config.tool_name = name;
      config.parallel_tool_calls = false;
      TokenStream stream = model->chat(question(), config);
      co_await drain(stream);
      const GenerateResult result = stream.result();
      expect_valid_calls(result);
      EXPECT_EQ(result.tool_calls.size(), 1U);
      if (!result.tool_calls.empty()) {
        EXPECT_EQ(result.tool_calls[0].name, name);
      }
    }
    co_await model->close();
  });
}

TEST(LlamaCppToolsTest, ACallAndItsResultFedBackAreRenderedAndTheNextAnswerParses) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ToolModel tool_model;
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await tool_model.load();
    TokenStream first = model->chat(question(), with_tools(ToolChoice::required));
    co_await drain(first);
    const GenerateResult called = first.result();
    expect_valid_calls(called);
    if (called.tool_calls.empty()) co_return;  // reported above
    std::vector<Message> conversation = question();
    conversation.push_back(Message{"assistant", "", called.tool_calls});
    conversation.push_back(Message{"tool", "RESULT-7f3a", {}, called.tool_calls[0].id});

    TokenStream second = model->chat(conversation, with_tools(ToolChoice::automatic));
    co_await drain(second);
    const GenerateResult answer = second.result();
    if (answer.finish_reason == FinishReason::tool_calls) {
      expect_valid_calls(answer);
    } else {
      EXPECT_TRUE(answer.tool_calls.empty());
      EXPECT_NE(answer.finish_reason, FinishReason::length);  // a whole {"reply": …} was written
    }
    // The prompt the engine sent is the template's rendering of the whole conversation, tool
    // result included: the server counted as many prompt tokens as that rendering has.
    std::string rendered;
    const uint64_t expected = co_await rendered_prompt_tokens(endpoint_of(*model), conversation, rendered);
    EXPECT_NE(rendered.find("result of " + called.tool_calls[0].id + ": RESULT-7f3a"), std::string::npos) << rendered;
    EXPECT_NE(rendered.find("call " + called.tool_calls[0].name), std::string::npos) << rendered;
    EXPECT_EQ(answer.metrics.prompt_tokens, expected);
    co_await model->close();
  });
}

TEST(LlamaCppToolsTest, NoneChoiceAnswersInWordsWithoutAnEnvelope) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ToolModel tool_model;
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await tool_model.load();
    TokenStream stream = model->chat(question(), with_tools(ToolChoice::none, 16));
    const std::vector<Token> tokens = co_await drain(stream);
    const GenerateResult result = stream.result();
    EXPECT_NE(result.finish_reason, FinishReason::tool_calls);
    EXPECT_TRUE(result.tool_calls.empty());
    EXPECT_EQ(result.reply, text_of(tokens));
    co_await model->close();
  });
}

TEST(LlamaCppToolsTest, AnEnvelopeCutShortByMaxTokensEndsWithLengthAndNoCalls) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ToolModel tool_model;
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await tool_model.load();
    TokenStream stream = model->chat(question(), with_tools(ToolChoice::required, kCutShort));
    const std::vector<Token> tokens = co_await drain(stream);
    const GenerateResult result = stream.result();
    EXPECT_EQ(tokens.size(), static_cast<std::size_t>(kCutShort));
    EXPECT_EQ(result.finish_reason, FinishReason::length);
    EXPECT_TRUE(result.tool_calls.empty());
    EXPECT_TRUE(result.reply.empty());
    co_await model->close();
  });
}

TEST(LlamaCppToolsTest, ParametersThatAreNotAJsonSchemaObjectAreRefusedBeforeAnyWork) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ToolModel tool_model;
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await tool_model.load();
    for (const std::string bad : {"{not json", "[1,2]"}) {
      GenerateConfig config = with_tools(ToolChoice::automatic);
      config.tools[1].parameters = bad;
      TokenStream stream = model->chat(question(), config);
      const std::optional<Error> error = co_await drain_error(stream);
      if (!error) {
        ADD_FAILURE() << "parameters " << bad << " were accepted";
        continue;
      }
      EXPECT_TRUE(error->is(errc::invalid_argument)) << error->what();
      EXPECT_NE(std::string(error->what()).find("set_light"), std::string::npos) << error->what();
    }
    EXPECT_EQ(model->stats().requests_total, 0U);
    co_await model->close();
  });
}

TEST(LlamaCppToolsTest, ToolsOnAModelWhoseTemplateCannotRenderThemAreRefused) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kSlots, kContextPerSlot));
    TokenStream stream = model->chat(question(), with_tools(ToolChoice::required));
    const std::optional<Error> error = co_await drain_error(stream);
    if (!error) {
      ADD_FAILURE() << "tools were accepted by a template that cannot render them";
      co_return;
    }
    EXPECT_TRUE(error->is(errc::invalid_argument)) << error->what();
    EXPECT_NE(std::string(error->what()).find("cannot render tools"), std::string::npos) << error->what();
    // Without tools the same model still chats.
    GenerateConfig plain;
    plain.max_tokens = 4;
    TokenStream words = model->chat(question(), plain);
    EXPECT_FALSE((co_await drain(words)).empty());
    co_await model->close();
  });
}

}  // namespace
}  // namespace inference::llama_cpp::test
