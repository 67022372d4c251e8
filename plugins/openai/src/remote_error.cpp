#include "inference/openai/remote_error.hpp"

#include <time.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <utility>

namespace inference::openai {
namespace {

namespace json = boost::json;

// A non-JSON error body (a proxy's HTML page) is quoted only this far.
constexpr std::size_t kMaxQuotedBodyBytes = 512;
// A Retry-After beyond a day is no answer to act on; it is treated as absent.
constexpr std::chrono::hours kMaxRetryAfter{24};

constexpr unsigned kUnauthorized = 401;
constexpr unsigned kForbidden = 403;
constexpr unsigned kNotFound = 404;
constexpr unsigned kTooManyRequests = 429;
constexpr unsigned kFirstServerError = 500;

std::string describe(unsigned status, const std::string& type, const std::string& message) {
  std::string text = "answered " + std::to_string(status);
  if (!type.empty()) text += ' ' + type;
  if (!message.empty()) text += ": " + message;
  if (status == kUnauthorized || status == kForbidden) {
    text += " (the API key was refused: check api_key_env or api_key_file)";
  }
  return text;
}

// The error object's fields; a string "error" is its message.
RemoteError::Details details_from_object(const json::value& error, unsigned status) {
  RemoteError::Details details;
  details.status = status;
  if (const json::object* object = error.if_object()) {
    if (const json::value* type = object->if_contains("type"); type && type->is_string()) {
      details.type = type->as_string();
    }
    if (const json::value* message = object->if_contains("message"); message && message->is_string()) {
      details.message = message->as_string();
    }
    const json::value* code = object->if_contains("code");
    if (details.status == 0 && code && code->is_int64() && code->as_int64() > 0 && code->as_int64() < 1000) {
      details.status = static_cast<unsigned>(code->as_int64());
    }
  } else if (const json::string* text = error.if_string()) {
    details.message = *text;
  }
  return details;
}

std::string join(std::string_view context, const std::string& text) {
  return context.empty() ? text : std::string(context) + ": " + text;
}

}  // namespace

RemoteError::RemoteError(errc code, std::string context, Details details)
    : Error(code, std::move(context)), details_(std::move(details)) {}

errc code_for_status(unsigned status) {
  if (status == kUnauthorized || status == kForbidden) return errc::backend_unavailable;
  if (status == kNotFound) return errc::model_not_found;
  if (status == kTooManyRequests) return errc::overloaded;
  if (status >= kFirstServerError) return errc::backend_unavailable;
  if (status >= 400) return errc::invalid_argument;
  return errc::protocol_error;
}

RemoteError remote_error_from_response(unsigned status, std::string_view body,
                                       std::optional<std::chrono::milliseconds> retry_after, std::string_view context) {
  RemoteError::Details details;
  boost::system::error_code ec;
  const json::value parsed = json::parse(body, ec);
  const json::value* error = !ec && parsed.is_object() ? parsed.as_object().if_contains("error") : nullptr;
  if (error != nullptr) {
    details = details_from_object(*error, status);
  } else {
    details.status = status;
    details.message = std::string(body.substr(0, kMaxQuotedBodyBytes));
    while (!details.message.empty() && (details.message.back() == '\n' || details.message.back() == '\r')) {
      details.message.pop_back();
    }
  }
  details.transient = status == kTooManyRequests || status >= kFirstServerError;
  details.retry_after = retry_after;
  std::string text = join(context, describe(status, details.type, details.message));
  if (retry_after) text += " (Retry-After: " + std::to_string(retry_after->count()) + " ms)";
  return RemoteError(code_for_status(status), std::move(text), std::move(details));
}

RemoteError remote_error_from_event(std::string_view payload, std::string_view context) {
  boost::system::error_code ec;
  const json::value parsed = json::parse(payload, ec);
  const json::value* error = !ec && parsed.is_object() ? parsed.as_object().if_contains("error") : nullptr;
  RemoteError::Details details = error ? details_from_object(*error, 0) : RemoteError::Details{};
  const errc code = details.status == 0 ? errc::backend_unavailable : code_for_status(details.status);
  std::string text = "sent an error in its stream";
  if (!details.type.empty()) text += " (" + details.type + ")";
  if (!details.message.empty()) text += ": " + details.message;
  return RemoteError(code, join(context, text), std::move(details));
}

RemoteError transport_error(std::string context, bool transient) {
  RemoteError::Details details;
  details.transient = transient;
  return RemoteError(errc::backend_unavailable, std::move(context), std::move(details));
}

std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  if (value.empty()) return std::nullopt;
  std::uint64_t seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (ec == std::errc() && end == value.data() + value.size()) {
    if (seconds > static_cast<std::uint64_t>(std::chrono::seconds(kMaxRetryAfter).count())) return std::nullopt;
    return std::chrono::seconds(seconds);
  }
  // IMF-fixdate, the form RFC 9110 requires senders to use.
  std::tm parts{};
  const std::string text(value);
  const char* parsed_end = ::strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &parts);
  if (parsed_end == nullptr || *parsed_end != '\0') return std::nullopt;
  // Compared in seconds: a date centuries away does not fit the clock's nanoseconds.
  const std::time_t when = ::timegm(&parts);
  const std::time_t current = std::chrono::system_clock::to_time_t(now);
  if (when <= current) return std::chrono::milliseconds(0);
  const std::chrono::seconds delay(when - current);
  if (delay > kMaxRetryAfter) return std::nullopt;
  return delay;
}

}  // namespace inference::openai
