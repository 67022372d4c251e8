#include "inference/gateway/api_key.hpp"

#include <cstddef>

namespace inference::gateway {
namespace {

// RFC 9110: the auth-scheme is case-insensitive; a single space separates it from the token.
constexpr std::string_view kBearerScheme = "bearer";

bool ascii_lower_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char c = (a[i] >= 'A' && a[i] <= 'Z') ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (c != b[i]) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool constant_time_equal(std::string_view offered, std::string_view expected) noexcept {
  // Every byte of `expected` is visited and folded into one accumulator, whatever `offered` holds,
  // and a length difference is folded in too instead of returning early. Bytes past the end of a
  // shorter `offered` compare against 0; the length term already makes such a pair unequal.
  std::size_t difference = offered.size() ^ expected.size();
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const auto offered_byte = static_cast<unsigned char>(i < offered.size() ? offered[i] : '\0');
    difference |= static_cast<std::size_t>(offered_byte ^ static_cast<unsigned char>(expected[i]));
  }
  return difference == 0;
}

bool authorized(std::string_view authorization, std::string_view expected) noexcept {
  if (expected.empty()) {
    return true;
  }
  const std::size_t space = authorization.find(' ');
  if (space == std::string_view::npos || !ascii_lower_equal(authorization.substr(0, space), kBearerScheme)) {
    return false;
  }
  // Whatever follows the single space is the key, extra spaces included (they make it unequal).
  return constant_time_equal(authorization.substr(space + 1), expected);
}

}  // namespace inference::gateway
