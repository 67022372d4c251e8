#include "inference/llama_server/tool_envelope.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

namespace json = boost::json;

GenerateConfig two_tools(ToolChoice choice) {
  GenerateConfig config;
  config.tools = {ToolDefinition{"a", "", R"({"type":"object","properties":{"x":{"type":"integer"}}})"},
                  ToolDefinition{"b", "", ""}};
  config.tool_choice = choice;
  return config;
}

json::value call_schema(std::string_view name, std::string_view arguments) {
  return json::parse(R"({"type":"object","properties":{"name":{"const":")" + std::string(name) + R"("},"arguments":)" +
                     std::string(arguments) + R"(},"required":["name","arguments"],"additionalProperties":false})");
}

json::value calls_schema(const json::array& alternatives, bool one_call = false) {
  json::object list{{"type", "array"}, {"minItems", 1}, {"items", json::object{{"anyOf", alternatives}}}};
  if (one_call) list["maxItems"] = 1;
  return json::object{{"type", "object"},
                      {"properties", json::object{{"tool_calls", list}}},
                      {"required", json::array{"tool_calls"}},
                      {"additionalProperties", false}};
}

const json::array kBoth{call_schema("a", R"({"type":"object","properties":{"x":{"type":"integer"}}})"),
                        call_schema("b", R"({"type":"object"})")};

TEST(ToolEnvelope, RequiredAllowsOneOrMoreCallsOfAnyToolEachWithItsOwnArguments) {
  EXPECT_EQ(json::parse(tool_envelope_schema(two_tools(ToolChoice::required))), calls_schema(kBoth));
}

TEST(ToolEnvelope, NamedAllowsOnlyThatToolAndParallelFalseOneCall) {
  GenerateConfig config = two_tools(ToolChoice::named);
  config.tool_name = "b";
  config.parallel_tool_calls = false;
  EXPECT_EQ(json::parse(tool_envelope_schema(config)),
            calls_schema(json::array{call_schema("b", R"({"type":"object"})")}, true));
}

TEST(ToolEnvelope, AutomaticAllowsCallsOrAReply) {
  const json::value reply = json::parse(
      R"({"type":"object","properties":{"reply":{"type":"string"}},"required":["reply"],"additionalProperties":false})");
  EXPECT_EQ(json::parse(tool_envelope_schema(two_tools(ToolChoice::automatic))),
            (json::object{{"anyOf", json::array{calls_schema(kBoth), reply}}}));
}

TEST(ToolEnvelope, NoneAndNoToolsHaveNoEnvelope) {
  EXPECT_EQ(tool_envelope_schema(two_tools(ToolChoice::none)), "");
  EXPECT_EQ(tool_envelope_schema(GenerateConfig{}), "");
}

TEST(ToolEnvelope, ParametersThatAreNotAJsonObjectAreRefusedNamingTheTool) {
  for (const ToolChoice choice : {ToolChoice::automatic, ToolChoice::none, ToolChoice::named}) {
    GenerateConfig config = two_tools(choice);
    config.tool_name = "a";
    config.tools[1].parameters = "{oops";
    try {
      (void)tool_envelope_schema(config);
      ADD_FAILURE() << "expected invalid_argument";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument));
      EXPECT_NE(std::string(e.what()).find("\"b\""), std::string::npos) << e.what();
    }
  }
}

TEST(ToolEnvelope, ParsesCallsWithNumberedIdsAndCompactArguments) {
  const auto parsed = parse_tool_envelope(
      R"({"tool_calls" : [ {"name":"a","arguments" : { "x" : 3 }}, {"name":"b","arguments":{}} ]})");
  ASSERT_TRUE(parsed);
  ASSERT_EQ(parsed->calls.size(), 2U);
  EXPECT_EQ(parsed->calls[0].id, "call_0");
  EXPECT_EQ(parsed->calls[0].name, "a");
  EXPECT_EQ(parsed->calls[0].arguments, R"({"x":3})");
  EXPECT_EQ(parsed->calls[1].id, "call_1");
  EXPECT_EQ(parsed->calls[1].arguments, "{}");
  EXPECT_TRUE(parsed->reply.empty());
}

TEST(ToolEnvelope, ParsesAReply) {
  const auto parsed = parse_tool_envelope(R"({"reply":"It is sunny."})");
  ASSERT_TRUE(parsed);
  EXPECT_TRUE(parsed->calls.empty());
  EXPECT_EQ(parsed->reply, "It is sunny.");
}

TEST(ToolEnvelope, AnEnvelopeCutShortOrMisshapenIsNotParsed) {
  for (const char* text : {"", R"({"tool_calls":[{"name":"a","argu)", "[]", R"({"tool_calls":[]})",
                           R"({"tool_calls":[{"name":"a"}]})", R"({"other":1})"}) {
    EXPECT_FALSE(parse_tool_envelope(text)) << text;
  }
}

}  // namespace
}  // namespace inference::llama_server
