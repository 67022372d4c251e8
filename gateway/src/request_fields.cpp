#include "request_fields.hpp"

#include <array>
#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>
#include <optional>
#include <utility>

#include "inference/gateway/api_error.hpp"

namespace inference::gateway::detail {
namespace {

namespace json = boost::json;

// A value quoted in an error message is cut here: the message names it, it need not echo it all.
constexpr std::size_t kMaxQuotedBytes = 64;
// 2^64 as a double: the first value a uint64_t cannot hold.
constexpr double kTwoTo64 = 18446744073709551616.0;

// The prefix of `text` that fits kMaxQuotedBytes and does not end inside a UTF-8 character.
std::string_view quotable(std::string_view text) {
  if (text.size() <= kMaxQuotedBytes) {
    return text;
  }
  std::size_t end = kMaxQuotedBytes;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0u) == 0x80u) {
    --end;
  }
  return text.substr(0, end);
}

}  // namespace

[[noreturn]] void refuse(std::string message, std::string param) {
  throw invalid_request(std::move(message), std::move(param));
}

std::string describe(double value) {
  std::array<char, 32> buffer{};
  const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
  return std::string(buffer.data(), result.ptr);
}

std::string describe(const json::value& value) {
  switch (value.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return value.get_bool() ? "true" : "false";
    case json::kind::int64:
      return std::to_string(value.get_int64());
    case json::kind::uint64:
      return std::to_string(value.get_uint64());
    case json::kind::double_:
      return describe(value.get_double());
    case json::kind::string: {
      const std::string_view text = value.get_string();
      const std::string_view shown = quotable(text);
      return json::serialize(json::string_view(shown.data(), shown.size())) + (shown.size() < text.size() ? "..." : "");
    }
    case json::kind::array:
      return value.get_array().size() == 1 ? std::string("an array of 1 element")
                                           : "an array of " + std::to_string(value.get_array().size()) + " elements";
    case json::kind::object:
      return "an object";
  }
  return "a JSON value";
}

const json::value* field(const json::object& object, std::string_view name) {
  const json::value* value = object.if_contains(name);
  return value == nullptr || value->is_null() ? nullptr : value;
}

bool read_bool(const json::value& value, const std::string& param) {
  if (!value.is_bool()) {
    refuse(param + " must be true or false, got " + describe(value), param);
  }
  return value.get_bool();
}

const json::string& read_string(const json::value& value, const std::string& param) {
  if (!value.is_string()) {
    refuse(param + " must be a string, got " + describe(value), param);
  }
  return value.get_string();
}

// Every range check happens before any conversion, so no input reaches a narrowing or
// overflowing cast.
int64_t read_integer(const json::value& value, const std::string& param, int64_t min, int64_t max) {
  const auto out_of_range = [&] {
    refuse(param + " must be an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", got " +
               describe(value),
           param);
  };
  switch (value.kind()) {
    case json::kind::int64:
      if (value.get_int64() < min || value.get_int64() > max) {
        out_of_range();
      }
      return value.get_int64();
    case json::kind::uint64:  // above INT64_MAX, so above any max
      out_of_range();
      break;
    case json::kind::double_: {
      const double number = value.get_double();
      if (!(number >= static_cast<double>(min) && number <= static_cast<double>(max)) || number != std::floor(number)) {
        out_of_range();
      }
      return static_cast<int64_t>(number);
    }
    default:
      out_of_range();
  }
  return 0;
}

uint64_t read_unsigned(const json::value& value, const std::string& param) {
  if (value.is_uint64()) {
    return value.get_uint64();
  }
  if (value.is_int64() && value.get_int64() >= 0) {
    return static_cast<uint64_t>(value.get_int64());
  }
  if (value.is_double()) {
    const double number = value.get_double();
    if (number >= 0.0 && number < kTwoTo64 && number == std::floor(number)) {
      return static_cast<uint64_t>(number);
    }
  }
  refuse(param + " must be an integer from 0 to 18446744073709551615, got " + describe(value), param);
}

double read_number(const json::value& value, const std::string& param, double min, double max) {
  const std::optional<double> number =
      value.is_number() ? std::optional<double>(value.to_number<double>()) : std::nullopt;
  if (!number || !(*number >= min && *number <= max)) {
    refuse(param + " must be a number from " + describe(min) + " to " + describe(max) + ", got " + describe(value),
           param);
  }
  return *number;
}

std::string indexed(std::string_view param, std::size_t index) {
  return std::string(param) + "[" + std::to_string(index) + "]";
}
}  // namespace inference::gateway::detail
