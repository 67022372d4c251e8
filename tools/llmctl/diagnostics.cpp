#include "diagnostics.hpp"

#include <fmt/core.h>

#include <cstdio>
#include <string>

namespace llmctl {

namespace {

std::string one_line(std::string_view message) {
  std::string out(message);
  for (char& c : out) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return out;
}

}  // namespace

void report_error(std::string_view message) {
  std::fflush(stdout);  // keep whatever was streamed before the error ahead of it on a terminal
  fmt::print(stderr, "llmctl: {}\n", one_line(message));
}

void report_error(const inference::Error& error, bool verbose) {
  if (error.code().category() != inference::error_category()) {
    report_error(error.what());
  } else {
    const auto code = static_cast<inference::errc>(error.code().value());
    report_error(fmt::format("{} ({})", error.what(), inference::error_name(code)));
  }
  if (!verbose) return;
  std::string_view detail = error.detail();
  while (!detail.empty()) {
    const auto end = detail.find('\n');
    fmt::print(stderr, "  {}\n", detail.substr(0, end));
    detail = end == std::string_view::npos ? std::string_view() : detail.substr(end + 1);
  }
}

void report_warning(std::string_view message) { fmt::print(stderr, "llmctl: warning: {}\n", one_line(message)); }

}  // namespace llmctl
