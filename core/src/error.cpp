#include "inference/error.hpp"

#include <algorithm>
#include <array>

namespace inference {
namespace {

struct CodeText {
  std::string_view name;
  std::string_view message;
};

// Indexed by errc value; index 0 is unused.
constexpr std::array<CodeText, 24> kCodes{{
    {"ok", "success"},
    {"backend_unavailable", "backend not available"},
    {"plugin_load_failed", "plugin could not be loaded"},
    {"plugin_abi_mismatch", "plugin was built against an incompatible ABI"},
    {"model_not_found", "model file not found"},
    {"invalid_model", "not a valid model file"},
    {"invalid_argument", "invalid argument"},
    {"child_start_failed", "child process failed to start"},
    {"child_exited", "child process exited"},
    {"child_hung", "child process stopped producing tokens"},
    {"load_timeout", "model load timed out"},
    {"overloaded", "request queue is full"},
    {"deadline_exceeded", "deadline exceeded"},
    {"cancelled", "cancelled"},
    {"protocol_error", "protocol error talking to the child process"},
    {"child_error", "child process answered with an error"},
    {"closed", "model is closed"},
    {"not_registered", "backend not registered"},
    {"duplicate_backend", "a backend with this name is already registered"},
    {"model_failed", "model failed and is no longer serving"},
    {"internal_error", "internal error"},
    {"concurrent_next", "another next() is already pending on this stream (one reader at a time)"},
    {"unsupported", "operation not supported by this backend"},
    {"device_lost", "the device is gone"},
}};

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "inference"; }
  std::string message(int value) const override {
    if (value <= 0 || static_cast<std::size_t>(value) >= kCodes.size()) {
      return "unknown inference error " + std::to_string(value);
    }
    return std::string(kCodes[static_cast<std::size_t>(value)].message);
  }
};

// The one line what() promises, whatever the context holds.
std::string one_line(const std::error_code& code, const std::string& context) {
  const auto line_break = [](char c) { return c == '\n' || c == '\r'; };
  std::string line = context.empty() ? code.message() : context + ": " + code.message();
  std::replace_if(line.begin(), line.end(), line_break, ' ');
  return line;
}

}  // namespace

const std::error_category& error_category() noexcept {
  // Never destroyed: errors are still made during static destruction (a model kept in a global
  // stops its child process at exit), after a function-local static would be gone.
  static const Category* const category = new Category();
  return *category;
}

std::string_view error_name(errc e) noexcept {
  const auto index = static_cast<std::size_t>(e);
  return index < kCodes.size() ? kCodes[index].name : std::string_view("unknown");
}

Error::Error(errc code, std::string context) : Error(make_error_code(code), std::move(context), {}) {}

Error::Error(std::error_code code, std::string context) : Error(code, std::move(context), {}) {}

Error::Error(errc code, std::string context, std::string detail)
    : Error(make_error_code(code), std::move(context), std::move(detail)) {}

Error::Error(std::error_code code, std::string context, std::string detail)
    : std::runtime_error(one_line(code, context)),
      code_(code),
      context_(std::move(context)),
      detail_(std::move(detail)) {}

}  // namespace inference
