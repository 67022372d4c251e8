#include "inference/llama_server/server_error.hpp"

#include <gtest/gtest.h>

#include "test_data.hpp"

namespace inference::llama_server {
namespace {

TEST(ServerError, CarriesStatusTypeAndMessageOfACapturedErrorBody) {
  const ServerError error =
      server_error_from_response(401, test::read_test_data("error_auth.json"), "unix:/x.sock GET /props");
  EXPECT_TRUE(error.is(errc::child_error));
  EXPECT_EQ(error.status(), 401U);
  EXPECT_EQ(error.type(), "authentication_error");
  EXPECT_EQ(error.server_message(), "Invalid API Key");
  EXPECT_EQ(error.context(),
            "unix:/x.sock GET /props: llama-server answered 401 authentication_error: Invalid API Key");
}

TEST(ServerError, QuotesTheServersMessageForABadField) {
  const ServerError error = server_error_from_response(400, test::read_test_data("error_bad_field.json"), "");
  EXPECT_EQ(error.type(), "invalid_request_error");
  EXPECT_EQ(error.server_message(),
            "Field 'n_probs': [json.exception.type_error.302] type must be number, but is string");
}

TEST(ServerError, UsesTheRawBodyWhenItIsNotAnErrorObject) {
  const ServerError error = server_error_from_response(502, "<html>Bad Gateway</html>\r\n", "ctx");
  EXPECT_EQ(error.status(), 502U);
  EXPECT_EQ(error.type(), "");
  EXPECT_EQ(error.server_message(), "<html>Bad Gateway</html>");
}

TEST(ServerError, TruncatesALongNonJsonBody) {
  const ServerError error = server_error_from_response(500, std::string(100000, 'x'), "ctx");
  EXPECT_LT(error.server_message().size(), 1000U);
}

// Found by fuzz/server_json_fuzz.cpp's invariant that the status is the error object's code:
// a code beyond unsigned was cast and wrapped around into a plausible status.
TEST(ServerError, KeepsTheHttpStatusWhenTheCodeDoesNotFitAStatus) {
  EXPECT_EQ(server_error_from_response(503, R"({"error":{"code":4294967696,"message":"m"}})", "ctx").status(), 503u);
  EXPECT_EQ(server_error_from_response(503, R"({"error":{"code":18446744073709551615}})", "ctx").status(), 503u);
  EXPECT_EQ(server_error_from_response(503, R"({"error":{"code":-400}})", "ctx").status(), 503u);
  EXPECT_EQ(server_error_from_response(503, R"({"error":{"code":429}})", "ctx").status(), 429u);
}

TEST(ServerError, AcceptsAnErrorGivenAsAPlainString) {
  const ServerError error = server_error_from_response(500, R"({"error":"it broke"})", "ctx");
  EXPECT_EQ(error.server_message(), "it broke");
  EXPECT_EQ(error.status(), 500U);
}

}  // namespace
}  // namespace inference::llama_server
