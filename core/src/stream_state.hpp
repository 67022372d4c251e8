// The state one generation shares between its consumer (TokenStream) and its producer
// (the coroutine started by spawn_stream). Guarded by one mutex; the reader and the producer
// wait in WaitQueues, so handlers are never invoked under it, always posted to their own
// associated executor.
#pragma once

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>

#include "inference/error.hpp"
#include "inference/types.hpp"
#include "inference/wait_queue.hpp"
#include "token_ring.hpp"

namespace inference::detail {

class StreamState : public std::enable_shared_from_this<StreamState> {
 public:
  using Clock = std::chrono::steady_clock;
  // The reader's queue holds at most one waiter; its data lets a cancelled next() cancel the
  // stream it belongs to.
  using ConsumerQueue = WaitQueue<void(std::exception_ptr, std::optional<Token>), std::weak_ptr<StreamState>>;
  using ConsumerHandler = ConsumerQueue::Handler;
  using SpaceQueue = WaitQueue<void(boost::system::error_code)>;
  using SpaceHandler = SpaceQueue::Handler;
  // A strand, type-erased (make one with make_stream_strand(), stream_producer.cpp).
  using Strand = boost::asio::any_io_executor;

  // A stream with a producer running on `strand`.
  StreamState(Strand strand, std::size_t buffer_tokens);
  // A stream with no producer that has already ended with `error` (context and detail as in Error).
  StreamState(std::error_code error, std::string message, std::string detail);

  // ---- consumer side ----
  enum class Poll { token, end, failed, empty, busy };
  // Takes a buffered token or reports the end without waiting; `busy` while another reader's
  // wait_token() is pending.
  Poll poll(std::optional<Token>& out, std::exception_ptr& error);
  // Waits for a token or the end. Cancellation through the handler's slot cancels the stream.
  // While one wait is pending (until its handler runs), another fails at once with
  // Error(concurrent_next) and the pending one is left alone.
  void wait_token(ConsumerHandler handler);
  void cancel(errc reason = errc::cancelled) noexcept;
  bool finished() const noexcept;
  GenerateResult result() const;
  void set_anchor(std::shared_ptr<const void> anchor);

  // ---- producer side ----
  // Moves from `token` only when it returns true (false: the buffer is full).
  bool try_push(Token& token);
  void wait_space(SpaceHandler handler);
  void finish(FinishReason reason);
  void fail(std::error_code error, std::string message, std::string detail);
  bool cancel_requested() const noexcept;
  void queued();
  void admitted(std::chrono::nanoseconds waited);
  void prompt_evaluated(uint64_t prompt_tokens);
  GenerateMetrics& metrics() noexcept { return result_.metrics; }
  void set_tool_reply(std::vector<ToolCall> calls, std::string reply);
  Clock::time_point started() const noexcept { return started_; }
  bool has_producer() const noexcept { return strand_.has_value(); }
  Strand& strand() noexcept { return *strand_; }
  boost::asio::cancellation_slot producer_slot() { return producer_signal_.slot(); }
  // Arms the deadline timer on the producer's strand.
  void start_deadline(Clock::time_point deadline);
  // Called on the strand when the producer coroutine has returned.
  void producer_finished();

 private:
  Poll take_locked(std::optional<Token>& out, std::exception_ptr& error);
  void end_locked(FinishReason reason, std::error_code error, std::string message, std::string detail);
  std::exception_ptr error_exception_locked() const;
  void emit_producer_cancellation();

  mutable std::mutex mutex_;
  std::optional<Strand> strand_;
  boost::asio::cancellation_signal producer_signal_;         // touched only on the strand
  std::optional<boost::asio::steady_timer> deadline_timer_;  // touched only on the strand
  const std::size_t capacity_;
  const std::size_t low_water_;
  const Clock::time_point started_;

  TokenRing buffer_;
  bool ended_ = false;          // no more tokens will be added
  bool consumer_done_ = false;  // the consumer saw the end or the error
  bool cancel_requested_ = false;
  bool dropped_by_cancel_ = false;  // cancel() by the reader: next() ends quietly
  bool producer_running_ = true;    // touched only on the strand
  uint64_t pushed_ = 0;
  bool queued_ = false;  // waiting for a slot (queued() without admitted() yet)
  Clock::time_point first_token_at_{};
  std::string error_context_;
  GenerateResult result_;
  std::shared_ptr<const void> anchor_;
  // A reader's wait counts as pending from wait_token() until its handler runs
  // (ConsumerQueue::pending(), readable without the mutex for the fast path).
  ConsumerQueue consumer_{&consumer_cancelled};
  SpaceQueue space_{[](std::monostate&) { return boost::system::error_code(boost::asio::error::operation_aborted); }};

  static std::exception_ptr consumer_cancelled(std::weak_ptr<StreamState>& stream);
};

}  // namespace inference::detail
