#include "inference/token_stream.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/system_executor.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "inference/error.hpp"
#include "stream_state.hpp"

namespace inference {

namespace asio = boost::asio;

TokenStream::TokenStream(std::shared_ptr<detail::StreamState> state) noexcept : state_(std::move(state)) {}

TokenStream& TokenStream::operator=(TokenStream&& other) noexcept {
  if (this != &other) {
    if (state_) state_->cancel();
    state_ = std::move(other.state_);
  }
  return *this;
}

TokenStream::~TokenStream() {
  if (state_) state_->cancel();
}

asio::awaitable<std::optional<Token>> TokenStream::next() {
  if (!state_) co_return std::nullopt;
  // Fast path: a buffered token (or the end) is taken without suspending the coroutine.
  std::optional<Token> token;
  std::exception_ptr error;
  switch (state_->poll(token, error)) {
    case detail::StreamState::Poll::token:
      co_return token;
    case detail::StreamState::Poll::end:
      co_return std::nullopt;
    case detail::StreamState::Poll::failed:
      std::rethrow_exception(error);
    case detail::StreamState::Poll::busy:
      throw Error(errc::concurrent_next, "TokenStream::next()");
    case detail::StreamState::Poll::empty:
      break;
  }
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, NextSignature>(
      [](auto handler, detail::StreamState* state) {
        state->wait_token(detail::StreamState::ConsumerQueue::make_handler(std::move(handler)));
      },
      asio::use_awaitable, state_.get());
}

asio::any_io_executor TokenStream::fallback_executor(const std::shared_ptr<detail::StreamState>& state) {
  if (state && state->has_producer()) return state->strand();
  return asio::system_executor();
}

void TokenStream::start_next(const std::shared_ptr<detail::StreamState>& state, NextHandler handler) {
  if (!state) return detail::StreamState::ConsumerQueue::post(std::move(handler), nullptr, std::nullopt);
  state->wait_token(std::move(handler));
}

void TokenStream::cancel() noexcept {
  if (state_) state_->cancel();
}

bool TokenStream::finished() const noexcept { return !state_ || state_->finished(); }

GenerateResult TokenStream::result() const {
  if (!state_) {
    GenerateResult empty;
    empty.finish_reason = FinishReason::cancelled;
    return empty;
  }
  return state_->result();
}

void TokenStream::attach_anchor(std::shared_ptr<const void> anchor) {
  if (state_) state_->set_anchor(std::move(anchor));
}

}  // namespace inference
