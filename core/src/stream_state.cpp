#include "stream_state.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <tuple>

namespace inference::detail {

namespace asio = boost::asio;

StreamState::StreamState(Strand strand, std::size_t buffer_tokens)
    : strand_(std::move(strand)),
      capacity_(buffer_tokens == 0 ? 1 : buffer_tokens),
      // The producer is woken only once the reader has drained half the buffer, so a fast
      // producer and a fast reader do not ping-pong one wake-up per token.
      low_water_(capacity_ / 2),
      started_(Clock::now()) {}

StreamState::StreamState(std::error_code error, std::string message, std::string detail)
    : capacity_(1), low_water_(0), started_(Clock::now()) {
  end_locked(FinishReason::error, error, std::move(message), std::move(detail));
}

// ---------------------------------------------------------------- consumer side

StreamState::Poll StreamState::poll(std::optional<Token>& out, std::exception_ptr& error) {
  if (consumer_.pending() > 0) return Poll::busy;
  std::lock_guard lock(mutex_);
  return take_locked(out, error);
}

StreamState::Poll StreamState::take_locked(std::optional<Token>& out, std::exception_ptr& error) {
  if (!buffer_.empty()) {
    buffer_.pop_into(out);
    if (buffer_.size() <= low_water_ && !space_.empty()) space_.notify_all();
    return Poll::token;
  }
  if (!ended_) return Poll::empty;
  consumer_done_ = true;
  if (result_.finish_reason != FinishReason::error || dropped_by_cancel_) return Poll::end;
  error = error_exception_locked();
  return Poll::failed;
}

void StreamState::wait_token(ConsumerHandler handler) {
  std::lock_guard lock(mutex_);
  if (consumer_.pending() > 0) {
    // Not through consumer_: the pending wait is the reader's, this one is refused.
    return ConsumerQueue::post(
        std::move(handler), std::make_exception_ptr(Error(errc::concurrent_next, "TokenStream::next()")), std::nullopt);
  }
  std::optional<Token> token;
  std::exception_ptr error;
  switch (take_locked(token, error)) {
    case Poll::token:
    case Poll::end:
    case Poll::failed:
      return consumer_.complete(std::move(handler), error, std::move(token));
    case Poll::empty:
    case Poll::busy:  // take_locked() does not report it
      break;
  }
  consumer_.push(std::move(handler), weak_from_this());
}

std::exception_ptr StreamState::consumer_cancelled(std::weak_ptr<StreamState>& stream) {
  // A cancelled next() cancels the whole stream (see token_stream.hpp).
  if (auto self = stream.lock()) self->cancel(errc::cancelled);
  return std::make_exception_ptr(Error(errc::cancelled, "next()"));
}

void StreamState::cancel(errc reason) noexcept {
  bool stop_producer = false;
  {
    std::lock_guard lock(mutex_);
    if (reason == errc::cancelled) {
      buffer_.clear();
      dropped_by_cancel_ = true;
    }
    if (!ended_) {
      cancel_requested_ = true;
      stop_producer = true;
      if (reason == errc::cancelled) {
        end_locked(FinishReason::cancelled, {}, {}, {});
        if (consumer_.notify_one(std::nullopt)) consumer_done_ = true;
      } else {
        end_locked(FinishReason::error, make_error_code(reason), "generation", {});
        if (!consumer_.empty() && consumer_.fail_all(error_exception_locked()) > 0) consumer_done_ = true;
      }
      space_.fail_all(asio::error::operation_aborted);
    }
  }
  if (stop_producer) emit_producer_cancellation();
}

bool StreamState::finished() const noexcept {
  std::lock_guard lock(mutex_);
  return consumer_done_;
}

GenerateResult StreamState::result() const {
  std::lock_guard lock(mutex_);
  return result_;
}

void StreamState::set_anchor(std::shared_ptr<const void> anchor) {
  std::lock_guard lock(mutex_);
  anchor_ = std::move(anchor);
}

// ---------------------------------------------------------------- producer side

bool StreamState::try_push(Token& token) {
  std::lock_guard lock(mutex_);
  if (ended_) throw Error(errc::cancelled, "stream already ended");
  if (buffer_.size() >= capacity_) return false;
  if (pushed_++ == 0) first_token_at_ = Clock::now();
  // A waiting reader has an empty buffer: the token goes to it directly.
  const bool handed_over = consumer_.notify_one_with(
      [&](std::weak_ptr<StreamState>&) { return std::tuple<std::optional<Token>>(std::move(token)); });
  if (!handed_over) buffer_.push(std::move(token));
  return true;
}

void StreamState::wait_space(SpaceHandler handler) {
  std::lock_guard lock(mutex_);
  if (ended_) return space_.complete(std::move(handler), asio::error::operation_aborted);
  if (buffer_.size() <= low_water_) return space_.complete(std::move(handler), {});
  space_.push(std::move(handler));
}

void StreamState::finish(FinishReason reason) {
  std::lock_guard lock(mutex_);
  if (ended_) return;
  end_locked(reason, {}, {}, {});
  if (consumer_.notify_one(std::nullopt)) consumer_done_ = true;
}

void StreamState::fail(std::error_code error, std::string message, std::string detail) {
  std::lock_guard lock(mutex_);
  if (ended_) return;
  end_locked(FinishReason::error, error, std::move(message), std::move(detail));
  if (buffer_.empty() && !consumer_.empty() && consumer_.fail_all(error_exception_locked()) > 0) {
    consumer_done_ = true;
  }
}

bool StreamState::cancel_requested() const noexcept {
  std::lock_guard lock(mutex_);
  return cancel_requested_;
}

void StreamState::start_deadline(Clock::time_point deadline) {
  deadline_timer_.emplace(*strand_, deadline);
  deadline_timer_->async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->cancel(errc::deadline_exceeded);
  });
}

void StreamState::producer_finished() {
  producer_running_ = false;
  if (deadline_timer_) deadline_timer_->cancel();
}

// ---------------------------------------------------------------- internals

void StreamState::queued() {
  std::lock_guard lock(mutex_);
  queued_ = true;
}

void StreamState::admitted(std::chrono::nanoseconds waited) {
  std::lock_guard lock(mutex_);
  queued_ = false;
  if (!ended_) result_.metrics.queue_wait = waited;
}

void StreamState::prompt_evaluated(uint64_t prompt_tokens) {
  std::lock_guard lock(mutex_);
  if (!ended_) result_.metrics.prompt_tokens = prompt_tokens;
}

void StreamState::end_locked(FinishReason reason, std::error_code error, std::string message, std::string detail) {
  ended_ = true;
  result_.finish_reason = reason;
  result_.error = error;
  error_context_ = std::move(message);
  if (error) {
    result_.error_message = Error(error, error_context_).what();
    result_.error_detail = std::move(detail);
  }
  auto& m = result_.metrics;
  const auto now = Clock::now();
  if (m.total_time.count() == 0) m.total_time = now - started_;
  if (m.generated_tokens == 0) m.generated_tokens = pushed_;
  if (m.time_to_first_token.count() == 0 && pushed_ > 0) m.time_to_first_token = first_token_at_ - started_;
  // An early end: what is known, measured here, where the backend's figures never came.
  if (queued_) m.queue_wait = now - started_;
  using Seconds = std::chrono::duration<double>;
  const auto prefill_time = Seconds(m.time_to_first_token - m.queue_wait).count();
  if (m.prefill_tokens_per_s == 0.0 && m.prompt_tokens > 0 && pushed_ > 0 && prefill_time > 0.0) {
    m.prefill_tokens_per_s = static_cast<double>(m.prompt_tokens) / prefill_time;
  }
  const auto decode_time = Seconds(now - first_token_at_).count();
  if (m.decode_tokens_per_s == 0.0 && pushed_ > 1 && decode_time > 0.0) {
    m.decode_tokens_per_s = static_cast<double>(pushed_ - 1) / decode_time;
  }
}

std::exception_ptr StreamState::error_exception_locked() const {
  return std::make_exception_ptr(Error(result_.error, error_context_, result_.error_detail));
}

void StreamState::emit_producer_cancellation() {
  if (!strand_) return;
  asio::post(*strand_, [self = shared_from_this()] {
    if (self->producer_running_) self->producer_signal_.emit(asio::cancellation_type::terminal);
  });
}

void StreamState::set_tool_reply(std::vector<ToolCall> calls, std::string reply) {
  const std::lock_guard lock(mutex_);
  result_.tool_calls = std::move(calls);
  result_.reply = std::move(reply);
}

}  // namespace inference::detail
