// Tests for include/inference/gateway/api_error.hpp
#include "inference/gateway/api_error.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <system_error>

#include "inference/error.hpp"

namespace inference::gateway {
namespace {

TEST(ApiError, InvalidRequestIsA400InvalidRequestErrorNamingTheParam) {
  const ApiError error = invalid_request("temperature must be a number", "temperature");
  EXPECT_EQ(error.status(), 400U);
  EXPECT_EQ(error.type(), "invalid_request_error");
  EXPECT_EQ(error.code(), "invalid_argument");
  EXPECT_EQ(error.param(), "temperature");
  EXPECT_STREQ(error.what(), "temperature must be a number");
  EXPECT_FALSE(error.retry_after.has_value());
}

TEST(ApiError, InvalidRequestKeepsAnExplicitCode) {
  EXPECT_EQ(invalid_request("not JSON", {}, "invalid_json").code(), "invalid_json");
}

struct Expected {
  errc code;
  unsigned status;
  const char* type;
};

// The table of docs/serve.md, row by row.
constexpr Expected kTable[] = {
    {errc::invalid_argument, 400, "invalid_request_error"},
    {errc::model_not_found, 404, "invalid_request_error"},
    {errc::overloaded, 429, "rate_limit_error"},
    {errc::deadline_exceeded, 504, "timeout_error"},
    {errc::cancelled, 499, "invalid_request_error"},
    {errc::closed, 503, "server_error"},
    {errc::model_failed, 503, "server_error"},
    {errc::load_timeout, 503, "server_error"},
    {errc::backend_unavailable, 503, "server_error"},
    {errc::child_exited, 503, "server_error"},
    {errc::child_hung, 503, "server_error"},
    {errc::child_start_failed, 503, "server_error"},
    {errc::child_error, 502, "server_error"},
    {errc::protocol_error, 502, "server_error"},
    {errc::plugin_load_failed, 500, "server_error"},
    {errc::plugin_abi_mismatch, 500, "server_error"},
    {errc::invalid_model, 500, "server_error"},
    {errc::not_registered, 500, "server_error"},
    {errc::duplicate_backend, 500, "server_error"},
    {errc::internal_error, 500, "server_error"},
    {errc::concurrent_next, 500, "server_error"},
    {errc::unsupported, 400, "invalid_request_error"},
    {errc::device_lost, 503, "server_error"},
};

TEST(ApiError, EveryRuntimeCodeMapsToItsStatusTypeAndName) {
  for (const Expected& row : kTable) {
    const ApiError error = api_error_from(Error(row.code, "model m"));
    EXPECT_EQ(error.status(), row.status) << error_name(row.code);
    EXPECT_EQ(error.type(), row.type) << error_name(row.code);
    EXPECT_EQ(error.code(), error_name(row.code));
    EXPECT_EQ(error.param(), "");
    EXPECT_FALSE(error.retry_after.has_value()) << "the gateway sets Retry-After, not the mapping";
  }
}

TEST(ApiError, TheTableCoversEveryRuntimeCode) {
  EXPECT_EQ(std::size(kTable), static_cast<std::size_t>(errc::device_lost));
}

TEST(ApiError, TheMessageIsTheErrorsWhat) {
  const Error runtime(errc::overloaded, "model tiny: 8 requests queued");
  EXPECT_EQ(std::string(api_error_from(runtime).what()), runtime.what());
  EXPECT_EQ(std::string(api_error_from(make_error_code(errc::closed), "gone").what()), "gone");
}

TEST(ApiError, TheMessageIsFoldedIntoOneLine) {
  const ApiError error = api_error_from(make_error_code(errc::child_error), "server said:\nbad\r\nthings");
  EXPECT_STREQ(error.what(), "server said: bad  things");
  EXPECT_STREQ(ApiError(400, "t", "c", "a\nb").what(), "a b");
}

TEST(ApiError, ACodeOfAnotherCategoryIsAnInternalError) {
  const ApiError error = api_error_from(std::make_error_code(std::errc::connection_reset), "reset");
  EXPECT_EQ(error.status(), 500U);
  EXPECT_EQ(error.type(), "server_error");
  EXPECT_EQ(error.code(), "internal_error");
  EXPECT_STREQ(error.what(), "reset");
}

TEST(ApiError, ErrorBodyHasOpenAIsShapeWithANullParamWhenThereIsNone) {
  const boost::json::value body = boost::json::parse(error_body(api_error_from(Error(errc::overloaded, "full"))));
  ASSERT_TRUE(body.is_object());
  EXPECT_EQ(body.as_object().size(), 1U);
  const boost::json::object& inner = body.at("error").as_object();
  EXPECT_EQ(inner.size(), 4U);
  EXPECT_EQ(inner.at("message").as_string(), "full: request queue is full");
  EXPECT_EQ(inner.at("type").as_string(), "rate_limit_error");
  EXPECT_TRUE(inner.at("param").is_null());
  EXPECT_EQ(inner.at("code").as_string(), "overloaded");
}

TEST(ApiError, ErrorBodyCarriesTheParamAndEscapesTheMessage) {
  const std::string message = R"(stop[0] must not be "" \ or empty)";
  const boost::json::value body = boost::json::parse(error_body(invalid_request(message, "stop[0]")));
  EXPECT_EQ(body.at("error").at("param").as_string(), "stop[0]");
  EXPECT_EQ(body.at("error").at("message").as_string(), message);
  EXPECT_EQ(body.at("error").at("code").as_string(), "invalid_argument");
}

}  // namespace
}  // namespace inference::gateway
