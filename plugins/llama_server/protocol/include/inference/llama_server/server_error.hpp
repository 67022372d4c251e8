// ServerError: llama-server answered with an error object, either as a non-2xx HTTP response
// (`{"error":{"code":400,"message":"…","type":"invalid_request_error"}}`) or inside an event
// stream. It is an inference::Error with code errc::child_error that also keeps the status, the
// server's error type and its message, so callers can react (503 "Loading model": retry;
// "exceed_context_size_error": the prompt is too long).
//
// Ownership: a plain value. Thread-safety: immutable after construction; safe to share.
// Cancellation: not applicable.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "inference/error.hpp"

namespace inference::llama_server {

class ServerError : public Error {
 public:
  // context names the request ("POST /completion"); what() reads
  // "<context>: llama-server answered 400 invalid_request_error: <message>: HTTP error".
  ServerError(unsigned status, std::string type, std::string message, std::string_view context);

  // The HTTP status, or the error object's "code" for an in-stream error (0 when absent).
  unsigned status() const noexcept { return status_; }
  // The server's error class, e.g. "invalid_request_error"; empty when the body had none.
  const std::string& type() const noexcept { return type_; }
  // The server's own message, e.g. "Invalid API Key"; the raw body when it was not JSON.
  const std::string& server_message() const noexcept { return server_message_; }

 private:
  unsigned status_;
  std::string type_;
  std::string server_message_;
};

// The error an HTTP error response stands for: its body's error object when it has one,
// otherwise the (truncated) body itself as the message.
ServerError server_error_from_response(unsigned status, std::string_view body, std::string_view context);

}  // namespace inference::llama_server
