#include "inference/llama_server/apply_template_request.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <vector>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

TEST(ApplyTemplateRequest, SendsMessagesInOrderWithRoleAndContent) {
  const std::vector<ChatMessage> messages{{"system", "Be brief."}, {"user", "Hi \"you\""}};
  const boost::json::value body = boost::json::parse(apply_template_request_body(messages));
  EXPECT_EQ(body, boost::json::parse(R"({"messages":[{"role":"system","content":"Be brief."},)"
                                     R"({"role":"user","content":"Hi \"you\""}]})"));
}

TEST(ApplyTemplateRequest, SendsAnEmptyListForNoMessages) {
  EXPECT_EQ(apply_template_request_body({}), R"({"messages":[]})");
}

TEST(ApplyTemplateRequest, ReadsThePromptOfACapturedResponse) {
  // Captured from llama-server for the two messages above (chatml template of the tiny model).
  const std::string body =
      R"({"prompt":"<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"})";
  EXPECT_EQ(parse_apply_template_response(body),
            "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ApplyTemplateRequest, RejectsAResponseWithoutAStringPrompt) {
  for (const char* body : {"", "[]", "{}", R"({"prompt":3})", "{\"prompt\":"}) {
    try {
      (void)parse_apply_template_response(body);
      ADD_FAILURE() << "expected a protocol error for " << body;
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    }
  }
}

TEST(ApplyTemplateRequest, SendsToolCallsToolResultsAndToolsInOpenAIShapes) {
  const std::vector<ChatMessage> messages{{"user", "Weather?"},
                                          {"assistant", "", {ToolCall{"call_0", "get_weather", R"({"city":"Oslo"})"}}},
                                          {"tool", "sunny", {}, "call_0"}};
  const std::vector<ToolDefinition> tools{{"get_weather", "A forecast", R"({"type":"object"})"}, {"ping", "", ""}};
  const boost::json::value body = boost::json::parse(apply_template_request_body(messages, tools));
  EXPECT_EQ(body,
            boost::json::parse(R"({"messages":[{"role":"user","content":"Weather?"},)"
                               R"({"role":"assistant","content":"","tool_calls":[{"id":"call_0",)"
                               R"("type":"function","function":{"name":"get_weather",)"
                               R"("arguments":"{\"city\":\"Oslo\"}"}}]},)"
                               R"({"role":"tool","content":"sunny","tool_call_id":"call_0"}],)"
                               R"("tools":[{"type":"function","function":{"name":"get_weather",)"
                               R"("parameters":{"type":"object"},"description":"A forecast"}},)"
                               R"({"type":"function","function":{"name":"ping","parameters":{"type":"object"}}}]})"));
}

TEST(ApplyTemplateRequest, RefusesToolParametersThatAreNotAJsonObject) {
  for (const char* parameters : {"{", "[]", "\"object\""}) {
    const std::vector<ToolDefinition> tools{{"bad_tool", "", parameters}};
    try {
      (void)apply_template_request_body({}, tools);
      ADD_FAILURE() << "expected invalid_argument for " << parameters;
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
      EXPECT_NE(std::string(e.what()).find("bad_tool"), std::string::npos) << e.what();
    }
  }
}

TEST(ApplyTemplateRequest, ReadsWhetherTheTemplateSupportsToolsFromProps) {
  EXPECT_TRUE(template_supports_tools(R"({"chat_template_caps":{"supports_tools":true}})"));
  EXPECT_FALSE(template_supports_tools(R"({"chat_template_caps":{"supports_tools":false}})"));
  EXPECT_FALSE(template_supports_tools(R"({"chat_template":"x"})"));
  EXPECT_THROW((void)template_supports_tools("[]"), Error);
}

}  // namespace
}  // namespace inference::llama_server
