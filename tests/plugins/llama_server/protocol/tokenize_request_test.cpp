#include "inference/llama_server/tokenize_request.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <vector>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

TEST(TokenizeRequest, AsksForPiecesAndSaysWhetherToAddSpecialTokens) {
  EXPECT_EQ(boost::json::parse(tokenize_request_body("Hello \"world\"", true)),
            boost::json::parse(R"({"content":"Hello \"world\"","add_special":true,"with_pieces":true})"));
  EXPECT_EQ(boost::json::parse(tokenize_request_body("", false)),
            boost::json::parse(R"({"content":"","add_special":false,"with_pieces":true})"));
}

TEST(TokenizeRequest, ReadsIdsAndPiecesOfACapturedResponse) {
  // Captured from llama-server: "Hello world" with add_special on the tiny model.
  const auto tokens = parse_tokenize_response(
      R"({"tokens":[{"id":1,"piece":"<s>"},{"id":15043,"piece":" Hello"},{"id":3186,"piece":" world"}]})");
  ASSERT_EQ(tokens.size(), 3U);
  EXPECT_EQ(tokens[0].id, 1);
  EXPECT_EQ(tokens[0].piece, "<s>");
  EXPECT_EQ(tokens[1].id, 15043);
  EXPECT_EQ(tokens[1].piece, " Hello");
  EXPECT_EQ(tokens[2].piece, " world");
}

TEST(TokenizeRequest, ReadsAByteTokensPieceGivenAsAnArrayOfBytes) {
  // Captured: the four byte tokens of U+1F916 (robot face), each piece not UTF-8 by itself.
  const auto tokens = parse_tokenize_response(
      R"({"tokens":[{"id":243,"piece":[240]},{"id":162,"piece":[159]},{"id":167,"piece":[164]},)"
      R"({"id":153,"piece":[150]}]})");
  ASSERT_EQ(tokens.size(), 4U);
  std::string joined;
  for (const auto& token : tokens) joined += token.piece;
  EXPECT_EQ(joined, "\xF0\x9F\xA4\x96");
}

TEST(TokenizeRequest, RejectsMalformedTokenizeResponses) {
  for (const char* body :
       {"", "[]", "{}", R"({"tokens":3})", R"({"tokens":[15043]})", R"({"tokens":[{"id":-1,"piece":"a"}]})",
        R"({"tokens":[{"id":5}]})", R"({"tokens":[{"id":5,"piece":[256]}]})", R"({"tokens":[{"id":5,"piece":{}}]})"}) {
    try {
      (void)parse_tokenize_response(body);
      ADD_FAILURE() << "expected a protocol error for " << body;
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
      EXPECT_NE(std::string(e.what()).find("/tokenize"), std::string::npos) << e.what();
    }
  }
}

TEST(DetokenizeRequest, SendsTheIdsInOrder) {
  const std::vector<TokenId> ids{1, 15043, 3186};
  EXPECT_EQ(detokenize_request_body(ids), R"({"tokens":[1,15043,3186]})");
  EXPECT_EQ(detokenize_request_body({}), R"({"tokens":[]})");
}

TEST(DetokenizeRequest, ReadsTheContentOfACapturedResponse) {
  EXPECT_EQ(parse_detokenize_response(R"({"content":"<s> Hello world"})"), "<s> Hello world");
}

TEST(DetokenizeRequest, RejectsAResponseWithoutStringContent) {
  for (const char* body : {"", "{}", R"({"content":1})", "[\"x\"]"}) {
    try {
      (void)parse_detokenize_response(body);
      ADD_FAILURE() << "expected a protocol error for " << body;
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    }
  }
}

}  // namespace
}  // namespace inference::llama_server
