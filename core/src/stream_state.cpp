#include "stream_state.hpp"

#include "inference/detail/post_handler.hpp"

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/append.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

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
  if (reader_waiting_.load(std::memory_order_acquire)) return Poll::busy;
  return take(out, error);
}

StreamState::Poll StreamState::take(std::optional<Token>& out, std::exception_ptr& error) {
  SpaceBox wake;
  {
    std::lock_guard lock(mutex_);
    if (!buffer_.empty()) {
      buffer_.pop_into(out);
      if (space_ && buffer_.size() <= low_water_) wake = std::move(space_);
    } else if (ended_) {
      consumer_done_ = true;
      if (result_.finish_reason != FinishReason::error || dropped_by_cancel_) return Poll::end;
      error = error_exception_locked();
      return Poll::failed;
    } else {
      return Poll::empty;
    }
  }
  if (wake) complete_space(std::move(wake), {});
  return Poll::token;
}

void StreamState::wait_token(ConsumerBox handler) {
  if (reader_waiting_.exchange(true, std::memory_order_acq_rel)) {
    // Not complete_consumer(): the waiting flag belongs to the pending reader.
    return post_handler(std::move(handler),
                        std::make_exception_ptr(Error(errc::concurrent_next, "TokenStream::next()")),
                        std::optional<Token>());
  }
  for (;;) {
    std::optional<Token> token;
    std::exception_ptr error;
    switch (take(token, error)) {
      case Poll::token:
        return complete_consumer(std::move(handler), nullptr, std::move(token));
      case Poll::end:
        return complete_consumer(std::move(handler), nullptr, std::nullopt);
      case Poll::failed:
        return complete_consumer(std::move(handler), error, std::nullopt);
      case Poll::empty:
      case Poll::busy:  // take() does not report it
        break;
    }
    std::lock_guard lock(mutex_);
    // Re-checked under the lock: the producer may have added a token since poll().
    if (!buffer_.empty() || ended_) continue;
    consumer_ = std::move(handler);
    auto slot = asio::get_associated_cancellation_slot(*consumer_);
    if (slot.is_connected()) {
      slot.assign([weak = weak_from_this()](asio::cancellation_type) {
        if (auto self = weak.lock()) self->on_consumer_cancelled();
      });
    }
    return;
  }
}

void StreamState::on_consumer_cancelled() {
  ConsumerBox waiting;
  {
    std::lock_guard lock(mutex_);
    if (!consumer_) return;  // already completed: cancellation after completion is a no-op
    waiting = std::move(consumer_);
  }
  cancel(errc::cancelled);
  complete_consumer(std::move(waiting), std::make_exception_ptr(Error(errc::cancelled, "next()")),
                    std::nullopt);
}

void StreamState::cancel(errc reason) noexcept {
  ConsumerBox waiting;
  SpaceBox space;
  std::exception_ptr error;
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
      } else {
        end_locked(FinishReason::error, make_error_code(reason), "generation", {});
      }
      space = std::move(space_);
      if (consumer_) {
        waiting = std::move(consumer_);
        consumer_done_ = true;
        if (reason != errc::cancelled) error = error_exception_locked();
      }
    }
  }
  if (stop_producer) emit_producer_cancellation();
  if (space) complete_space(std::move(space), asio::error::operation_aborted);
  if (waiting) complete_consumer(std::move(waiting), error, std::nullopt);
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

bool StreamState::try_push(Token&& token) {
  ConsumerBox waiting;
  {
    std::lock_guard lock(mutex_);
    if (ended_) throw Error(errc::cancelled, "stream already ended");
    if (buffer_.size() >= capacity_) return false;
    if (pushed_++ == 0) first_token_at_ = Clock::now();
    if (!consumer_) {
      buffer_.push(std::move(token));
      return true;
    }
    // The reader is waiting, so the buffer is empty: hand the token over directly.
    waiting = std::move(consumer_);
  }
  complete_consumer(std::move(waiting), nullptr, std::move(token));
  return true;
}

void StreamState::wait_space(SpaceBox handler) {
  std::unique_lock lock(mutex_);
  if (ended_) {
    lock.unlock();
    return complete_space(std::move(handler), asio::error::operation_aborted);
  }
  if (buffer_.size() <= low_water_) {
    lock.unlock();
    return complete_space(std::move(handler), {});
  }
  space_ = std::move(handler);
  auto slot = asio::get_associated_cancellation_slot(*space_);
  if (slot.is_connected()) {
    slot.assign([weak = weak_from_this()](asio::cancellation_type) {
      auto self = weak.lock();
      if (!self) return;
      SpaceBox waiting;
      {
        std::lock_guard guard(self->mutex_);
        waiting = std::move(self->space_);
      }
      if (waiting) complete_space(std::move(waiting), asio::error::operation_aborted);
    });
  }
}

void StreamState::finish(FinishReason reason) {
  ConsumerBox waiting;
  {
    std::lock_guard lock(mutex_);
    if (ended_) return;
    end_locked(reason, {}, {}, {});
    if (consumer_) {
      waiting = std::move(consumer_);
      consumer_done_ = true;
    }
  }
  if (waiting) complete_consumer(std::move(waiting), nullptr, std::nullopt);
}

void StreamState::fail(std::error_code error, std::string message, std::string detail) {
  ConsumerBox waiting;
  std::exception_ptr exception;
  {
    std::lock_guard lock(mutex_);
    if (ended_) return;
    end_locked(FinishReason::error, error, std::move(message), std::move(detail));
    if (consumer_ && buffer_.empty()) {
      waiting = std::move(consumer_);
      consumer_done_ = true;
      exception = error_exception_locked();
    }
  }
  if (waiting) complete_consumer(std::move(waiting), exception, std::nullopt);
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

void StreamState::complete_consumer(ConsumerBox handler, std::exception_ptr error,
                                    std::optional<Token> token) {
  // On the handler's own executor (the waiting coroutine's), never under the mutex. The reader
  // stops counting as waiting just before its handler runs, so that the handler can call
  // next() again.
  auto executor = asio::get_associated_executor(*handler);
  asio::prefer(executor, asio::execution::blocking.never)
      .execute([self = shared_from_this(), handler = std::move(handler), error, token = std::move(token)]() mutable {
        self->reader_waiting_.store(false, std::memory_order_release);
        std::move(*handler)(error, std::move(token));
      });
}

void StreamState::complete_space(SpaceBox handler, boost::system::error_code ec) {
  post_handler(std::move(handler), ec);
}

void StreamState::emit_producer_cancellation() {
  if (!strand_) return;
  asio::post(*strand_, [self = shared_from_this()] {
    if (self->producer_running_) self->producer_signal_.emit(asio::cancellation_type::terminal);
  });
}

}  // namespace inference::detail
