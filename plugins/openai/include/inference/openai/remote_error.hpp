// RemoteError: a remote OpenAI-compatible server refused or failed a request, or could not be
// reached. An inference::Error whose code says what a host can do about it, carrying the HTTP
// status, the server's error type and message, whether it is worth retrying before the first
// token, and a 429's Retry-After.
//
// Codes (docs/scale-out.md has the same table):
//   401, 403                 backend_unavailable  the key was refused (not retried)
//   404                      model_not_found      no such model or endpoint (not retried)
//   429                      overloaded           retried after Retry-After
//   other 4xx                invalid_argument     the server's message says which field (not retried)
//   5xx                      backend_unavailable  retried with backoff
//   transport failures       backend_unavailable  transient() says which are retried
//
// Ownership: a plain value. Thread-safety: immutable after construction; safe to share.
// Cancellation: not applicable.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "inference/error.hpp"

namespace inference::openai {

class RemoteError : public Error {
 public:
  struct Details {
    unsigned status = 0;     // the HTTP status; 0 when no answer came
    std::string type;        // the server's error type ("authentication_error"), may be empty
    std::string message;     // the server's own message, may be empty
    bool transient = false;  // worth another attempt before the first token (see retry_policy.hpp)
    std::optional<std::chrono::milliseconds> retry_after;  // a 429's or 503's Retry-After
  };

  RemoteError(errc code, std::string context, Details details);

  unsigned status() const noexcept { return details_.status; }
  const std::string& type() const noexcept { return details_.type; }
  const std::string& remote_message() const noexcept { return details_.message; }
  bool transient() const noexcept { return details_.transient; }
  const std::optional<std::chrono::milliseconds>& retry_after() const noexcept { return details_.retry_after; }

 private:
  Details details_;
};

// The error code an HTTP error status stands for (the table above).
errc code_for_status(unsigned status);

// The error a non-2xx answer stands for: its body's OpenAI error object ({"error":{"message",
// "type","code"}}) when it has one, else the start of the body. `context` names the request
// ("https://api.example.com POST /v1/completions"); `retry_after` is the parsed header.
RemoteError remote_error_from_response(unsigned status, std::string_view body,
                                       std::optional<std::chrono::milliseconds> retry_after, std::string_view context);

// The error an in-stream `data: {"error":{...}}` event stands for (not transient: the server
// started answering).
RemoteError remote_error_from_event(std::string_view payload, std::string_view context);

// A failure with no HTTP answer (connect, TLS, timeout, lost connection): backend_unavailable.
RemoteError transport_error(std::string context, bool transient);

// Retry-After as sent: delay-seconds ("120") or an HTTP-date ("Wed, 21 Oct 2015 07:28:00 GMT",
// counted from `now`). std::nullopt when absent or unreadable; a date in the past is zero.
std::optional<std::chrono::milliseconds> parse_retry_after(std::string_view value,
                                                           std::chrono::system_clock::time_point now);

}  // namespace inference::openai
