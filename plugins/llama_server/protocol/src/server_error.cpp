#include "inference/llama_server/server_error.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <limits>
#include <string>

#include "server_error_json.hpp"

namespace inference::llama_server {
namespace {

// A non-JSON error body (a proxy's HTML page, say) is quoted only this far in messages.
constexpr std::size_t kMaxQuotedBodyBytes = 512;

std::string describe(unsigned status, const std::string& type, const std::string& message) {
  std::string text = "llama-server answered " + std::to_string(status);
  if (!type.empty()) {
    text += ' ';
    text += type;
  }
  if (!message.empty()) {
    text += ": ";
    text += message;
  }
  return text;
}

std::string join_context(std::string_view context, const std::string& description) {
  if (context.empty()) {
    return description;
  }
  std::string text(context);
  text += ": ";
  text += description;
  return text;
}

}  // namespace

ServerError::ServerError(unsigned status, std::string type, std::string message, std::string_view context)
    : Error(errc::child_error, join_context(context, describe(status, type, message))),
      status_(status),
      type_(std::move(type)),
      server_message_(std::move(message)) {}

ServerError server_error_from_response(unsigned status, std::string_view body, std::string_view context) {
  boost::system::error_code ec;
  const boost::json::value parsed = boost::json::parse(body, ec);
  if (!ec && parsed.is_object()) {
    if (const boost::json::value* error = parsed.as_object().if_contains("error")) {
      return detail::server_error_from_json(*error, status, context);
    }
  }
  std::string message(body.substr(0, kMaxQuotedBodyBytes));
  while (!message.empty() && (message.back() == '\n' || message.back() == '\r')) {
    message.pop_back();
  }
  return ServerError(status, {}, std::move(message), context);
}

namespace detail {

ServerError server_error_from_json(const boost::json::value& error, unsigned fallback_status,
                                   std::string_view context) {
  unsigned status = fallback_status;
  std::string type;
  std::string message;
  if (const boost::json::object* object = error.if_object()) {
    if (const boost::json::value* code = object->if_contains("code")) {
      // A code that does not fit would wrap around into a plausible status (4294967696 -> 400).
      if (code->is_int64() && code->as_int64() > 0 && code->as_int64() <= std::numeric_limits<unsigned>::max()) {
        status = static_cast<unsigned>(code->as_int64());
      }
    }
    if (const boost::json::value* value = object->if_contains("type"); value && value->is_string()) {
      type = value->as_string();
    }
    if (const boost::json::value* value = object->if_contains("message"); value && value->is_string()) {
      message = value->as_string();
    }
  } else if (const boost::json::string* text = error.if_string()) {
    message = *text;  // some builds answer {"error":"…"}
  }
  return ServerError(status, std::move(type), std::move(message), context);
}

}  // namespace detail
}  // namespace inference::llama_server
