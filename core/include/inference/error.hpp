// Typed errors of the inference runtime: one std::error_category for the whole project and an
// exception type that carries the code plus context a user can act on (path, exit status) in one
// line, and the longer evidence (the child's last lines) beside it. Thread-safety: all functions
// here are safe from any thread.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace inference {

// The numeric values cross the plugin boundary inside std::error_code: append new codes, never
// renumber. The child_* codes are about a process a backend runs to do its work (e.g. a local
// inference server); backends without one never raise them.
enum class errc {
  backend_unavailable = 1,
  plugin_load_failed,
  plugin_abi_mismatch,
  model_not_found,
  invalid_model,
  invalid_argument,
  child_start_failed,  // the child process could not be started, or ended or refused before it was ready
  child_exited,        // the child process exited while serving
  child_hung,          // the child process stopped making progress and was killed
  load_timeout,
  overloaded,
  deadline_exceeded,
  cancelled,
  protocol_error,
  child_error,  // the child process answered a request with an error (its message in the context)
  closed,
  not_registered,
  duplicate_backend,
  model_failed,
  internal_error,
  concurrent_next,  // TokenStream::next() while another next() on the stream is pending
  unsupported,      // the backend or model does not offer this operation (e.g. reload())
  device_lost,      // the device a model (or one of its replicas) ran on is gone
};

const std::error_category& error_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept { return {static_cast<int>(e), error_category()}; }

// The symbolic name of a code ("child_exited"), stable for scripts and JSON output.
std::string_view error_name(errc e) noexcept;

// The exception every awaitable of the runtime throws. what() is one line:
// "<context>: <message of the code>" (or just the message without context); line breaks in the
// context are folded into spaces there. detail() holds what does not fit one line, e.g. the last
// lines a crashed or refusing child process printed; it is empty when there is nothing more.
class Error : public std::runtime_error {
 public:
  explicit Error(errc code, std::string context = {});
  Error(std::error_code code, std::string context);
  Error(errc code, std::string context, std::string detail);
  Error(std::error_code code, std::string context, std::string detail);

  const std::error_code& code() const noexcept { return code_; }
  const std::string& context() const noexcept { return context_; }
  // Supporting text of any length (several lines), for logs and --verbose output.
  const std::string& detail() const noexcept { return detail_; }

  // True when this error carries the given project code.
  bool is(errc e) const noexcept { return code_ == make_error_code(e); }

 private:
  std::error_code code_;
  std::string context_;
  std::string detail_;
};

}  // namespace inference

template <>
struct std::is_error_code_enum<inference::errc> : std::true_type {};
