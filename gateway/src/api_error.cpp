#include "inference/gateway/api_error.hpp"

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <utility>

namespace inference::gateway {
namespace {

// HTTP statuses of the table in docs/serve.md.
constexpr unsigned kBadRequest = 400;
constexpr unsigned kNotFound = 404;
constexpr unsigned kTooManyRequests = 429;
// nginx's "client closed request": the client went away, so nobody reads this answer; it is what
// logs and metrics count a cancelled request as.
constexpr unsigned kClientClosedRequest = 499;
constexpr unsigned kInternalServerError = 500;
constexpr unsigned kBadGateway = 502;
constexpr unsigned kServiceUnavailable = 503;
constexpr unsigned kGatewayTimeout = 504;

constexpr std::string_view kInvalidRequestType = "invalid_request_error";
constexpr std::string_view kServerErrorType = "server_error";

// What an HTTP client sees: one line, whatever a context or a backend put into the text.
std::string one_line(std::string text) {
  std::replace_if(
      text.begin(), text.end(), [](char c) { return c == '\n' || c == '\r'; }, ' ');
  return text;
}

struct StatusAndType {
  unsigned status;
  std::string_view type;
};

StatusAndType status_of(errc code) noexcept {
  switch (code) {
    case errc::invalid_argument:
    case errc::unsupported:  // the request asks for something this model does not offer
      return {kBadRequest, kInvalidRequestType};
    case errc::model_not_found:  // OpenAI answers an unknown model with 404 invalid_request_error
      return {kNotFound, kInvalidRequestType};
    case errc::overloaded:
      return {kTooManyRequests, "rate_limit_error"};
    case errc::deadline_exceeded:
      return {kGatewayTimeout, "timeout_error"};
    case errc::cancelled:
      return {kClientClosedRequest, kInvalidRequestType};
    case errc::closed:
    case errc::model_failed:
    case errc::load_timeout:
    case errc::backend_unavailable:
    case errc::child_exited:
    case errc::child_hung:
    case errc::child_start_failed:
    case errc::device_lost:
      return {kServiceUnavailable, kServerErrorType};
    case errc::child_error:
    case errc::protocol_error:
      return {kBadGateway, kServerErrorType};
    default:
      return {kInternalServerError, kServerErrorType};
  }
}

}  // namespace

ApiError::ApiError(unsigned status, std::string type, std::string code, std::string message, std::string param)
    : std::runtime_error(one_line(std::move(message))),
      status_(status),
      type_(std::move(type)),
      code_(std::move(code)),
      param_(std::move(param)) {}

ApiError invalid_request(std::string message, std::string param, std::string code) {
  return ApiError(kBadRequest, std::string(kInvalidRequestType), std::move(code), std::move(message), std::move(param));
}

ApiError api_error_from(const Error& error) { return api_error_from(error.code(), error.what()); }

ApiError api_error_from(std::error_code code, const std::string& message) {
  if (code.category() != error_category()) {
    // Not one of the runtime's codes (a system or Asio error escaped): the gateway's own fault.
    return ApiError(kInternalServerError, std::string(kServerErrorType), std::string(error_name(errc::internal_error)),
                    message);
  }
  const auto runtime_code = static_cast<errc>(code.value());
  const StatusAndType answer = status_of(runtime_code);
  return ApiError(answer.status, std::string(answer.type), std::string(error_name(runtime_code)), message);
}

std::string error_body(const ApiError& error) {
  boost::json::object inner;
  inner["message"] = error.what();
  inner["type"] = error.type();
  inner["param"] = error.param().empty() ? boost::json::value(nullptr) : boost::json::value(error.param());
  inner["code"] = error.code();
  boost::json::object body;
  body["error"] = std::move(inner);
  return boost::json::serialize(body);
}

}  // namespace inference::gateway
