// ApiError: a failure as the HTTP client sees it, in OpenAI's error shape
//   {"error": {"message": "...", "type": "...", "param": ..., "code": "..."}}
// with the HTTP status it travels with. `code` is the runtime's typed error name
// (inference::error_name: "overloaded", "invalid_argument", ...) or, for failures that only exist
// at the HTTP layer, a name of the same style ("invalid_api_key", "body_too_large", ...).
// Plain value (an exception type too, so parsers can throw it); safe to copy between threads.
#pragma once

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "inference/error.hpp"

namespace inference::gateway {

class ApiError : public std::runtime_error {
 public:
  ApiError(unsigned status, std::string type, std::string code, std::string message, std::string param = {});

  unsigned status() const noexcept { return status_; }
  const std::string& type() const noexcept { return type_; }  // e.g. "invalid_request_error"
  const std::string& code() const noexcept { return code_; }
  const std::string& param() const noexcept { return param_; }  // the body field at fault, or empty
  // Sent as Retry-After (whole seconds) when set: 429 and 503 answers.
  std::optional<std::chrono::seconds> retry_after;

 private:
  unsigned status_;
  std::string type_;
  std::string code_;
  std::string param_;
};

// A request body or header the gateway refuses: 400 invalid_request_error with `code` (e.g.
// "invalid_argument") and the field at fault in `param`.
ApiError invalid_request(std::string message, std::string param = {}, std::string code = "invalid_argument");

// The HTTP answer for a runtime error (the table in docs/serve.md): invalid_argument 400,
// model_not_found 404, overloaded 429 (Retry-After), deadline_exceeded 504, closed/model_failed/
// child_* 503 or 502, everything else 500. The message is the error's what().
ApiError api_error_from(const Error& error);
ApiError api_error_from(std::error_code code, const std::string& message);

// {"error": {...}} as compact JSON.
std::string error_body(const ApiError& error);

}  // namespace inference::gateway
