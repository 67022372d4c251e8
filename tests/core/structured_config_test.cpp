// What validate() and validate_for_prompt() say about the structured-output and tool fields of
// GenerateConfig (core/src/generate_config.cpp), and what a backend that implements none of the
// new TextModel operations answers (core/src/text_model.cpp's defaults): each refusal is an
// Error with its own code and names the thing at fault.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <limits>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "inference/stream_producer.hpp"
#include "inference/text_model.hpp"

namespace inference {
namespace {

namespace asio = boost::asio;
using ::testing::HasSubstr;

ToolDefinition tool(std::string name) {
  ToolDefinition t;
  t.name = std::move(name);
  t.parameters = R"({"type":"object"})";
  return t;
}

std::string refusal(const GenerateConfig& config) {
  const std::optional<Error> error = validate(config);
  if (!error) return "";
  EXPECT_TRUE(error->is(errc::invalid_argument)) << error->what();
  return error->what();
}

TEST(StructuredConfig, JsonSchemaAndGrammarAloneAreAcceptedTogetherRefused) {
  GenerateConfig config;
  config.json_schema = R"({"type":"object"})";
  EXPECT_EQ(refusal(config), "");
  config.grammar = R"(root ::= "yes" | "no")";
  EXPECT_THAT(refusal(config), HasSubstr("json_schema and grammar are exclusive"));
  config.json_schema.clear();
  EXPECT_EQ(refusal(config), "");
}

TEST(StructuredConfig, LogitBiasNeedsATokenIdAndAFiniteBiasOrMinusInfinity) {
  GenerateConfig config;
  config.logit_bias = {{.token = 5, .bias = 2.5F}, {.token = 7, .bias = -std::numeric_limits<float>::infinity()}};
  EXPECT_EQ(refusal(config), "");
  config.logit_bias = {{.token = -1, .bias = 1.0F}};
  EXPECT_THAT(refusal(config), HasSubstr("logit_bias token must be >= 0, got -1"));
  config.logit_bias = {{.token = 3, .bias = std::numeric_limits<float>::infinity()}};
  EXPECT_THAT(refusal(config), HasSubstr("logit_bias bias must be finite or -infinity"));
  config.logit_bias = {{.token = 3, .bias = std::numeric_limits<float>::quiet_NaN()}};
  EXPECT_THAT(refusal(config), HasSubstr("logit_bias bias"));
}

TEST(StructuredConfig, ToolNamesMustBeValidAndUnique) {
  GenerateConfig config;
  config.tools = {tool("get_weather"), tool("look-up_2")};
  EXPECT_EQ(refusal(config), "");
  config.tools = {tool("get weather")};
  EXPECT_THAT(refusal(config), HasSubstr("invalid tool name \"get weather\""));
  config.tools = {tool("")};
  EXPECT_THAT(refusal(config), HasSubstr("invalid tool name \"\""));
  config.tools = {tool(std::string(65, 'a'))};
  EXPECT_THAT(refusal(config), HasSubstr("invalid tool name"));
  config.tools = {tool("a"), tool("a")};
  EXPECT_THAT(refusal(config), HasSubstr("tool \"a\" is defined twice"));
}

TEST(StructuredConfig, ToolChoiceMustMatchTheTools) {
  GenerateConfig config;
  config.tool_choice = ToolChoice::required;
  EXPECT_THAT(refusal(config), HasSubstr("tool_choice requires tools"));
  config.tools = {tool("a"), tool("b")};
  EXPECT_EQ(refusal(config), "");
  config.tool_choice = ToolChoice::named;
  config.tool_name = "c";
  EXPECT_THAT(refusal(config), HasSubstr("tool_name \"c\" is not one of the tools"));
  config.tool_name = "b";
  EXPECT_EQ(refusal(config), "");
}

TEST(StructuredConfig, ToolsCannotBeCombinedWithAnotherConstraint) {
  GenerateConfig config;
  config.tools = {tool("a")};
  config.json_schema = R"({"type":"object"})";
  EXPECT_THAT(refusal(config), HasSubstr("tools cannot be combined with json_schema or grammar"));
  config.json_schema.clear();
  config.grammar = "root ::= \"x\"";
  EXPECT_THAT(refusal(config), HasSubstr("tools cannot be combined"));
}

TEST(StructuredConfig, ToolsApplyToChatOnly) {
  GenerateConfig config;
  config.tools = {tool("a")};
  EXPECT_FALSE(validate(config).has_value()) << "chat() accepts tools";
  const std::optional<Error> error = validate_for_prompt(config);
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::invalid_argument));
  EXPECT_THAT(error->what(), HasSubstr("tools apply to chat() only"));
  config.tools.clear();
  config.max_tokens = -1;
  ASSERT_TRUE(validate_for_prompt(config).has_value()) << "validate_for_prompt() includes validate()";
}

// A backend that implements only what every backend must.
class MinimalModel final : public TextModel {
 public:
  TokenStream generate(std::string, GenerateConfig) override {
    return failed_stream(make_error_code(errc::closed), "");
  }
  TokenStream chat(std::vector<Message>, GenerateConfig) override {
    return failed_stream(make_error_code(errc::closed), "");
  }
  ModelInfo info() const override { return {}; }
  std::string model_type() const override { return "minimal"; }
  ModelStats stats() const override { return {}; }
  asio::awaitable<void> close() override { co_return; }
};

template <typename T>
std::error_code code_of(asio::io_context& io, asio::awaitable<T> operation, std::string& message) {
  auto future = asio::co_spawn(io, std::move(operation), asio::use_future);
  io.run();
  io.restart();
  try {
    future.get();
  } catch (const Error& e) {
    message = e.what();
    return e.code();
  }
  return {};
}

TEST(StructuredConfig, ABackendWithoutTheNewOperationsSaysUnsupportedNamingEach) {
  asio::io_context io;
  MinimalModel model;
  std::string message;
  EXPECT_EQ(code_of(io, model.tokenize("hi", false), message), make_error_code(errc::unsupported));
  EXPECT_THAT(message, HasSubstr("tokenize() on a minimal model"));
  EXPECT_EQ(code_of(io, model.detokenize({1, 2}), message), make_error_code(errc::unsupported));
  EXPECT_THAT(message, HasSubstr("detokenize()"));
  EXPECT_EQ(code_of(io, model.embed({"hi"}), message), make_error_code(errc::unsupported));
  EXPECT_THAT(message, HasSubstr("embed()"));
  EXPECT_EQ(code_of(io, model.rerank("q", {"d"}), message), make_error_code(errc::unsupported));
  EXPECT_THAT(message, HasSubstr("rerank()"));

  TokenStream stream = model.generate_tokens({1, 2, 3}, GenerateConfig{});
  auto next = asio::co_spawn(io, stream.next(), asio::use_future);
  io.run();
  try {
    next.get();
    ADD_FAILURE() << "a prompt of token ids on a backend without them must fail";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::unsupported)) << e.what();
    EXPECT_THAT(e.what(), HasSubstr("token ids"));
  }
}

}  // namespace
}  // namespace inference
