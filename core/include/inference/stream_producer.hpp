// The producer side of a TokenStream, for backend implementers.
//
// spawn_stream() starts a backend's generation coroutine at once on a new strand of the given
// executor and returns the consumer's TokenStream. The coroutine writes tokens through a
// StreamWriter into a bounded buffer; when the buffer is full it waits for the consumer
// (backpressure), so a slow reader never grows memory without bound.
//
// Cancellation: when the consumer cancels (cancel(), destruction, Asio cancellation of next())
// or the deadline passes, a terminal cancellation is emitted into the coroutine: the async
// operation it is awaiting completes with operation_aborted, any later co_await throws, and
// every StreamWriter push throws Error(cancelled). The coroutine only has to let the exception
// propagate (cleaning up with RAII, e.g. a SlotLease), it must not swallow it.
//
// Lifetime: the coroutine keeps the stream's shared state alive until it returns; the body
// (and whatever it captures, typically a shared_ptr to the model) is destroyed before the
// state, so a plugin's code never runs after its anchor is released.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "inference/load_options.hpp"
#include "inference/token_stream.hpp"
#include "inference/types.hpp"

namespace inference {

class StreamWriter {
 public:
  explicit StreamWriter(detail::StreamState& state) noexcept : state_(state) {}

  // Appends a token: `co_await writer.push(std::move(token))`. The token is taken at the call:
  // when the buffer has room (the usual case) it is appended there and the awaitable completes
  // without waiting for anything and without a trip through the executor; when the buffer is
  // full, the awaitable waits until the reader has drained half of it, then appends it.
  // Throws Error(cancelled) once the stream was cancelled or its deadline passed.
  boost::asio::awaitable<void> push(Token&& token);

  // Metrics the backend fills in; generated_tokens, time_to_first_token and total_time are
  // filled by the runtime when the backend leaves them at zero.
  GenerateMetrics& metrics() noexcept;

  // chat() with tools: what the reply meant (GenerateResult::tool_calls and ::reply), set before
  // the body returns (FinishReason::tool_calls when `calls` is not empty).
  void set_tool_reply(std::vector<ToolCall> calls, std::string reply);

  // Progress the runtime needs to report honest metrics for a stream that ends early (cancel,
  // deadline, error), when the backend's own end-of-request figures never come:
  // queued() before waiting for a slot, admitted() once it has one (sets queue_wait; until
  // then an end reports the time waited so far), prompt_evaluated() once the backend knows the
  // prompt's token count. Then prefill and decode rates are estimated from the stream's own
  // timings when the backend left them at zero.
  void queued();
  void admitted(std::chrono::nanoseconds waited);
  void prompt_evaluated(uint64_t prompt_tokens);

  // When the request was made (generate()/chat() call).
  std::chrono::steady_clock::time_point started() const noexcept;

  bool cancelled() const noexcept;

 private:
  // push() into a full buffer.
  boost::asio::awaitable<void> push_when_writable(Token token);
  // Completes when the buffer has room again (or throws once cancelled).
  boost::asio::awaitable<void> wait_writable();

  detail::StreamState& state_;
};

// The generation coroutine: returns how it ended, or throws inference::Error.
using StreamBody = std::function<boost::asio::awaitable<FinishReason>(StreamWriter&)>;

struct StreamOptions {
  StreamOptions() = default;  // not an aggregate: see GenerateConfig
  StreamOptions(std::size_t buffer, std::optional<std::chrono::steady_clock::time_point> until)
      : buffer_tokens(buffer), deadline(until) {}
  // The request's own bounds: GenerateConfig::deadline and ::timeout.
  StreamOptions(std::size_t buffer, const GenerateConfig& config)
      : buffer_tokens(buffer), deadline(config.deadline), timeout(config.timeout) {}

  std::size_t buffer_tokens = kDefaultStreamBufferTokens;
  // The stream fails with deadline_exceeded at the earlier of `deadline` and spawn_stream() +
  // `timeout`.
  std::optional<std::chrono::steady_clock::time_point> deadline;
  std::optional<std::chrono::steady_clock::duration> timeout;
};

TokenStream spawn_stream(const boost::asio::any_io_executor& executor, StreamOptions options, StreamBody body);

// A stream that has already failed with `error` (e.g. overloaded before anything started): its
// first next() throws Error(error, message).
TokenStream failed_stream(const std::error_code& error, std::string message);
// The same for an Error, keeping its detail().
TokenStream failed_stream(const Error& error);

}  // namespace inference
