// RetryPolicy: whether a request that failed before its first token is sent again, and after how
// long. Only then: once a token has reached the consumer, a second attempt would repeat or
// contradict it, so any later failure ends the stream.
//
// What is retried (RemoteError::transient()): a connection that could not be opened or was lost
// before the answer began, a 5xx, and a 429. A 429 (or a 503) with Retry-After waits exactly that
// long; a Retry-After longer than max_delay is not waited for: the request fails with the
// server's error at once, naming the delay it asked for. Everything else waits retry_backoff,
// doubled per attempt, capped at max_delay. Never retried: authentication, 404, other 4xx, TLS
// certificate failures, a read timeout (the server took the request and may still be working on
// it), malformed streams.
//
// Ownership: plain values. Thread-safety: pure. Cancellation: not applicable.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

#include "inference/openai/remote_error.hpp"

namespace inference::openai {

struct RetryPolicy {
  std::uint32_t retries = 0;  // further attempts after the first
  std::chrono::milliseconds backoff{0};
  std::chrono::milliseconds max_delay{0};
};

// The wait before the next attempt after `failed_attempts` attempts (1 after the first) ended in
// `error`, or std::nullopt to give up and throw it.
std::optional<std::chrono::milliseconds> retry_delay(const RetryPolicy& policy, std::uint32_t failed_attempts,
                                                     const RemoteError& error);

}  // namespace inference::openai
