#include "stub_options.hpp"

#include <charconv>

namespace inference::stub {

namespace {

uint64_t parse_count(const std::string& key, const std::string& value) {
  uint64_t out = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || end != value.data() + value.size()) {
    throw Error(errc::invalid_argument, "stub backend option " + key + "=" + value + ": not a non-negative integer");
  }
  return out;
}

errc parse_code(const std::string& key, const std::string& value) {
  if (auto code = error_code_from_name(value)) return *code;
  throw Error(errc::invalid_argument, "stub backend option " + key + "=" + value + ": not an error code name");
}

}  // namespace

std::optional<errc> error_code_from_name(const std::string& name) {
  constexpr std::string_view kPastTheLastCode = "unknown";
  for (int i = 1; error_name(static_cast<errc>(i)) != kPastTheLastCode; ++i) {
    const auto code = static_cast<errc>(i);
    if (error_name(code) == name) return code;
  }
  return std::nullopt;
}

StubOptions parse_stub_options(const std::map<std::string, std::string>& options) {
  StubOptions out;
  for (const auto& [key, value] : options) {
    if (key == "token_delay_us") {
      out.token_delay = std::chrono::microseconds(parse_count(key, value));
    } else if (key == "prefill_delay_us") {
      out.prefill_delay = std::chrono::microseconds(parse_count(key, value));
    } else if (key == "fail_after_tokens") {
      out.fail_after_tokens = parse_count(key, value);
    } else if (key == "fail_code") {
      out.fail_code = parse_code(key, value);
    } else if (key == "crash_after_tokens") {
      out.crash_after_tokens = parse_count(key, value);
    } else if (key == "hang_after_tokens") {
      out.hang_after_tokens = parse_count(key, value);
    } else if (key == "fail_load") {
      out.fail_load = parse_code(key, value);
    } else if (key == "fail_detail") {
      out.fail_detail = value;
    } else {
      throw Error(errc::invalid_argument, "stub backend option " + key +
                                              ": unknown (known: token_delay_us, "
                                              "prefill_delay_us, fail_after_tokens, fail_code, crash_after_tokens, "
                                              "hang_after_tokens, fail_load, fail_detail)");
    }
  }
  return out;
}

}  // namespace inference::stub
