// TokenStream: the consumer's handle on one generation. Move-only; owns the right to the
// tokens. Destroying it, calling cancel(), or cancelling a pending next() through Asio's
// per-operation cancellation all cancel the work behind it: a queued request leaves the queue,
// a running one frees its slot.
//
// Reading: `co_await stream.next()` in a coroutine (a buffered token is returned without
// suspending), or next(token) with any Asio completion token, as for a socket read:
// `as_tuple(use_awaitable)`, `deferred`, `use_future`, a callback. The completion signature is
// void(std::exception_ptr, std::optional<Token>); the exception_ptr holds an inference::Error.
//
// A per-read timeout: race next() with a timer through make_parallel_group(...).async_wait(
// experimental::wait_for_one(), ...). Not `co_await (stream.next() || timer.async_wait(...))`:
// Asio's operator|| waits for the first operation that *succeeds*, so an error thrown by next()
// (child_exited, deadline_exceeded, ...) would only surface once the timer fires. For a bound
// on the whole request, GenerateConfig::timeout or ::deadline is simpler.
//
// Thread-safety: one TokenStream is used by one consumer at a time (like any Asio I/O object);
// it may live on any executor, independent of the backend's. A next() called while another
// next() on the same stream is still pending fails at once with Error(concurrent_next) and
// leaves the pending one alone. The producer side runs elsewhere and synchronises with the
// stream internally.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/execution/blocking.hpp>
#include <boost/asio/prefer.hpp>
#include <exception>
#include <memory>
#include <optional>

#include "inference/types.hpp"

namespace inference {

namespace detail {
class StreamState;
}

class TokenStream {
 public:
  // What next(token) completes with: an Error (as exception_ptr) or the next token, where
  // std::nullopt is the end.
  using NextSignature = void(std::exception_ptr, std::optional<Token>);

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

  // next() with any completion token. The outcome is the one next() returns or throws. The
  // handler runs on its associated executor, or, when it has none, on the strand the stream's
  // producer runs on (a stream that never started, e.g. empty or refused at once, uses the
  // system executor then); never inside this call. Asio per-operation cancellation of the
  // handler's slot cancels the stream, as for next().
  template <boost::asio::completion_token_for<NextSignature> CompletionToken>
  auto next(CompletionToken&& token) {
    return boost::asio::async_initiate<CompletionToken, NextSignature>(
        [](auto handler, std::shared_ptr<detail::StreamState> state) {
          // Blocking.never is bound to the concrete executor here: once type-erased it could not
          // be asked for any more, and a handler run inside this call would break Asio's rule.
          auto executor = boost::asio::prefer(boost::asio::get_associated_executor(handler, fallback_executor(state)),
                                              boost::asio::execution::blocking.never);
          start_next(state, NextHandler(boost::asio::bind_executor(executor, std::move(handler))));
        },
        token, state_);
  }

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
  using NextHandler = boost::asio::any_completion_handler<NextSignature>;
  // The producer's strand, or the system executor for a stream without a producer.
  static boost::asio::any_io_executor fallback_executor(const std::shared_ptr<detail::StreamState>& state);
  // Waits for the next token and completes `handler` with it (never inline).
  static void start_next(const std::shared_ptr<detail::StreamState>& state, NextHandler handler);

  std::shared_ptr<detail::StreamState> state_;
};

}  // namespace inference
