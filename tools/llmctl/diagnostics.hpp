// How llmctl reports problems: exactly one line on stderr per error or warning, prefixed with
// "llmctl:", so a script can show or grep it as is. Messages that contain line breaks are
// folded into one line. Only when asked (--verbose) does an error's detail (e.g. the inference
// server's last output lines) follow, each line indented. Not thread-safe (llmctl reports from
// its one thread).
#pragma once

#include <string_view>

#include "inference/error.hpp"

namespace llmctl {

void report_error(std::string_view message);

// what() followed by the code's stable name, e.g. "...: child process exited (child_exited)";
// with `verbose`, then the error's detail, one indented line per line.
void report_error(const inference::Error& error, bool verbose);

void report_warning(std::string_view message);

}  // namespace llmctl
