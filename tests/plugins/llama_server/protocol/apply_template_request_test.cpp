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

}  // namespace
}  // namespace inference::llama_server
