// TokenStream: the consumer's handle on one generation. Move-only; owns the right to the
// tokens. Destroying it, calling cancel(), or cancelling a pending next() through Asio's
// per-operation cancellation all cancel the work behind it: a queued request leaves the queue,
// a running one frees its slot.
//
// A per-read timeout: race next() with a timer through make_parallel_group(...).async_wait(
// experimental::wait_for_one(), ...). Not `co_await (stream.next() || timer.async_wait(...))`:
// Asio's operator|| waits for the first operation that *succeeds*, so an error thrown by next()
// (server_exited, deadline_exceeded, ...) would only surface once the timer fires. For a bound
// on the whole request, GenerateConfig::timeout or ::deadline is simpler.
//
// Thread-safety: one TokenStream is used by one consumer at a time (like any Asio I/O object);
// it may live on any executor, independent of the backend's. The producer side runs elsewhere
// and synchronises with the stream internally.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>
#include <optional>

#include "inference/types.hpp"

namespace inference {

namespace detail {
class StreamState;
}

class TokenStream {
 public:
  TokenStream() = default;  // an empty stream: next() ends at once
  explicit TokenStream(std::shared_ptr<detail::StreamState> state) noexcept;
  TokenStream(TokenStream&&) noexcept = default;
  TokenStream& operator=(TokenStream&& other) noexcept;
  TokenStream(const TokenStream&) = delete;
  TokenStream& operator=(const TokenStream&) = delete;
  ~TokenStream();

  // The next token, or std::nullopt at the end (also after cancel()). Throws inference::Error
  // when the generation failed (after delivering the tokens produced before the failure), and
  // Error(cancelled) when this call itself was cancelled through Asio cancellation.
  boost::asio::awaitable<std::optional<Token>> next();

  // Ends the generation; idempotent. Buffered tokens are dropped; next() returns nullopt.
  void cancel() noexcept;

  // True once next() has returned the end or thrown the stream's error.
  bool finished() const noexcept;

  // How the generation ended. Valid once finished(); before that finish_reason is `error`
  // with an empty error code.
  GenerateResult result() const;

  bool valid() const noexcept { return state_ != nullptr; }

  // Keeps `anchor` alive as long as either side of the stream exists. The plugin loader uses
  // it to keep a plugin's shared object mapped while its code may still run.
  void attach_anchor(std::shared_ptr<const void> anchor);

 private:
  std::shared_ptr<detail::StreamState> state_;
};

}  // namespace inference
