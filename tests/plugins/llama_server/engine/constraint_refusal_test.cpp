// Which server errors mean "your schema or grammar is bad" (invalid_argument), without a server.
#include "inference/llama_server/constraint_refusal.hpp"

#include <gtest/gtest.h>

#include <string>

namespace inference::llama_server {
namespace {

// The messages llama-server answers with, captured from the real server (build 11669).
constexpr const char* kBadGrammar = "Failed to initialize samplers: failed to parse grammar";
constexpr const char* kBadSchema =
    "Field 'json_schema': \"json_schema\": JSON schema conversion failed:\nJSON schema error at #: unrecognized type "
    "objectx";
constexpr const char* kTooLong = "the request exceeds the available context size, try increasing it";

ServerError answer(unsigned status, const char* message, const char* type = "invalid_request_error") {
  return ServerError(status, type, message, "POST /completion");
}

GenerateConfig with_grammar() {
  GenerateConfig config;
  config.grammar = "root ::= (";
  return config;
}

GenerateConfig with_schema() {
  GenerateConfig config;
  config.json_schema = R"({"type":"objectx"})";
  return config;
}

TEST(ConstraintRefusal, ABadGrammarIsTheCallersInvalidArgumentWithTheServersMessageAndOutput) {
  const auto refused = constraint_refusal(answer(400, kBadGrammar), with_grammar(), "parse: error parsing grammar");
  ASSERT_TRUE(refused.has_value());
  EXPECT_TRUE(refused->is(errc::invalid_argument));
  EXPECT_NE(
      std::string(refused->what()).find(std::string("llama-server refused GenerateConfig::grammar: ") + kBadGrammar),
      std::string::npos)
      << refused->what();
  EXPECT_EQ(refused->detail(), "parse: error parsing grammar");
}

TEST(ConstraintRefusal, ABadSchemaIsTheCallersInvalidArgumentQuotingTheServer) {
  const auto refused = constraint_refusal(answer(400, kBadSchema), with_schema(), "");
  ASSERT_TRUE(refused.has_value());
  EXPECT_TRUE(refused->is(errc::invalid_argument));
  EXPECT_NE(std::string(refused->what()).find("GenerateConfig::json_schema"), std::string::npos) << refused->what();
  EXPECT_NE(std::string(refused->what()).find("unrecognized type objectx"), std::string::npos) << refused->what();
}

TEST(ConstraintRefusal, OtherErrorsStandAsTheyAre) {
  // Not about the constraint: a prompt too long for the slot.
  EXPECT_FALSE(constraint_refusal(answer(400, kTooLong, "exceed_context_size_error"), with_schema(), ""));
  // Not a refusal of the request: the server failed.
  EXPECT_FALSE(constraint_refusal(answer(500, kBadGrammar, "server_error"), with_grammar(), ""));
  // No constraint was sent, so the server's grammar is not the caller's.
  EXPECT_FALSE(constraint_refusal(answer(400, kBadGrammar), GenerateConfig(), ""));
}

}  // namespace
}  // namespace inference::llama_server
