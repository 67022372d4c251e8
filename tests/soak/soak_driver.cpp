#include "soak_driver.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "inference/error.hpp"
#include "process_probe.hpp"

namespace inference::soak {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

struct SoakDriver::Read {
  enum class Kind { token, end, error, untyped, hung };
  Kind kind = Kind::end;
  std::error_code code;  // Kind::error
  std::string message;   // Kind::error and Kind::untyped
};

namespace {

bool is_deadline(Fate fate) { return fate == Fate::deadline_queued || fate == Fate::deadline_running; }

std::string error_label(const std::error_code& code) {
  if (code.category() == error_category()) return std::string(error_name(static_cast<errc>(code.value())));
  return fmt::format("{}:{}", code.category().name(), code.value());
}

std::chrono::microseconds scaled(std::chrono::milliseconds window, double fraction) {
  return std::chrono::microseconds(static_cast<int64_t>(static_cast<double>(window.count()) * 1000.0 * fraction));
}

}  // namespace

SoakDriver::SoakDriver(std::shared_ptr<TextModel> model, SoakOptions options, std::vector<PlannedRequest> plan,
                       std::vector<std::string> prompts)
    : model_(model),
      options_(std::move(options)),
      plan_(std::move(plan)),
      prompts_(std::move(prompts)),
      kill_points_([&] {
        const auto points = kill_points(options_.requests, options_.kills);
        return std::set<uint32_t>(points.begin(), points.end());
      }()),
      killer_(std::move(model)) {}

asio::awaitable<void> SoakDriver::worker() {
  for (;;) {
    const uint32_t index = next_index_.fetch_add(1);
    if (index >= plan_.size()) co_return;
    if (kill_points_.contains(index)) co_await killer_.kill(index);
    co_await run_request(index);
  }
}

GenerateConfig SoakDriver::config_for(const PlannedRequest& planned) const {
  GenerateConfig config;
  config.max_tokens = is_deadline(planned.fate) ? options_.deadline_max_tokens : options_.max_tokens;
  if (planned.fate == Fate::deadline_queued) {
    config.with_timeout(std::chrono::milliseconds(1) + scaled(kDeadlineQueuedWindow, planned.deadline_draw));
  } else if (planned.fate == Fate::deadline_running) {
    double estimate_ms = 0;
    {
      std::lock_guard lock(mutex_);
      estimate_ms = queue_wait_estimate_ms_;
    }
    const auto expected_wait = std::chrono::microseconds(static_cast<int64_t>(estimate_ms * 1000.0));
    config.with_timeout(expected_wait + scaled(kDeadlineRunningWindow, planned.deadline_draw));
  }
  return config;
}

asio::awaitable<SoakDriver::Read> SoakDriver::read_once(TokenStream& stream) {
  Read out;
  try {
    const std::optional<Token> token = co_await stream.next();
    out.kind = token ? Read::Kind::token : Read::Kind::end;
  } catch (const Error& e) {
    out.kind = Read::Kind::error;
    out.code = e.code();
    out.message = e.what();
  } catch (const std::exception& e) {
    out.kind = Read::Kind::untyped;
    out.message = e.what();
  } catch (...) {
    out.kind = Read::Kind::untyped;
    out.message = "a non-standard exception";
  }
  co_return out;
}

asio::awaitable<SoakDriver::Read> SoakDriver::read(TokenStream& stream, asio::steady_timer& watchdog) {
  // read_once never throws: `||` waits for the first operation that *succeeds*, so a next() that
  // threw would otherwise be masked until the watchdog fired.
  auto first = co_await (read_once(stream) || watchdog.async_wait(asio::use_awaitable));
  if (first.index() == 1) {
    Read hung;
    hung.kind = Read::Kind::hung;
    co_return hung;
  }
  co_return std::get<0>(std::move(first));
}

asio::awaitable<void> SoakDriver::run_request(uint32_t index) {
  const PlannedRequest& planned = plan_[index];
  const Fate fate = planned.fate;
  GenerateConfig config = config_for(planned);
  const int32_t max_tokens = config.effective_max_tokens();
  asio::steady_timer watchdog(co_await asio::this_coro::executor, options_.watchdog);
  const auto started = Clock::now();
  TokenStream stream = model_->generate(prompts_[planned.prompt], config);
  int32_t tokens = 0;

  // Records the outcome of a read that was neither a token nor the expected end.
  const auto record_abnormal = [&](const Read& read) {
    switch (read.kind) {
      case Read::Kind::hung:
        stream.cancel();
        tally_.record(index, fate, Outcome::hung, {},
                      fmt::format("no end within {} s after {} tokens", options_.watchdog.count(), tokens));
        return;
      case Read::Kind::untyped:
        tally_.record(index, fate, Outcome::untyped_exception, {}, read.message);
        return;
      case Read::Kind::token:
      case Read::Kind::end:
        tally_.record(
            index, fate, Outcome::wrong_result, {},
            fmt::format("{} after {} tokens", read.kind == Read::Kind::token ? "a token" : "the end", tokens));
        return;
      case Read::Kind::error:
        break;
    }
    const std::string label = error_label(read.code);
    const GenerateResult result = stream.result();
    if (!stream.finished() || result.error != read.code) {
      tally_.record(index, fate, Outcome::wrong_result, label,
                    fmt::format("next() threw {} but result() says {} (finished={})", label,
                                result.error ? error_label(result.error) : "no error", stream.finished()));
      return;
    }
    const bool around_kill = killer_.around_kill(started, Clock::now());
    if (read.code == make_error_code(errc::deadline_exceeded) && is_deadline(fate)) {
      tally_.record(index, fate, tokens == 0 ? Outcome::deadline_before_first_token : Outcome::deadline_while_streaming,
                    label);
    } else if (read.code == make_error_code(errc::child_exited) && around_kill) {
      tally_.record(index, fate, Outcome::failed_at_kill, label);
    } else {
      tally_.record(index, fate, Outcome::unexpected_error, label,
                    fmt::format("{} after {} tokens{}", read.message, tokens,
                                around_kill ? " (during a kill window)" : " (no kill around it)"));
    }
  };

  // cancel() was called: the stream must end at once, with nothing more, as cancelled; or, when
  // the generation had already run to max_tokens before cancel() landed (its tokens were still
  // buffered, or the server withheld the last one), with the generation's own finish reason.
  const auto judge_cancelled_end = [&](const Read& after, Outcome outcome) {
    const GenerateResult result = stream.result();
    const bool ran_to_the_end = stream.finished() && result.finish_reason == FinishReason::length &&
                                result.metrics.generated_tokens == static_cast<uint64_t>(max_tokens);
    if (after.kind != Read::Kind::end) {
      record_abnormal(after);
    } else if (ran_to_the_end) {
      tally_.record(index, fate, Outcome::finished_before_cancel);
    } else if (!stream.finished() || result.finish_reason != FinishReason::cancelled) {
      tally_.record(index, fate, Outcome::wrong_result, {},
                    fmt::format("after cancel(): finished={} finish_reason={}", stream.finished(),
                                to_string(stream.result().finish_reason)));
    } else {
      tally_.record(index, fate, outcome);
    }
  };

  switch (fate) {
    case Fate::cancel_queued:
    case Fate::drop_queued:
      note_queued_cancel();
      if (fate == Fate::drop_queued) {
        stream = TokenStream();
        tally_.record(index, fate, Outcome::dropped_queued);
      } else {
        stream.cancel();
        const Read after = co_await read(stream, watchdog);
        judge_cancelled_end(after, Outcome::cancelled_queued);
      }
      break;

    case Fate::cancel_streaming:
    case Fate::drop_streaming: {
      Read last;
      while (tokens < planned.cancel_after) {
        last = co_await read(stream, watchdog);
        if (last.kind != Read::Kind::token) break;
        ++tokens;
      }
      if (tokens < planned.cancel_after) {
        record_abnormal(last);
      } else if (fate == Fate::drop_streaming) {
        stream = TokenStream();
        tally_.record(index, fate, Outcome::dropped_streaming);
      } else {
        stream.cancel();
        const Read after = co_await read(stream, watchdog);
        judge_cancelled_end(after, Outcome::cancelled_streaming);
      }
      break;
    }

    case Fate::normal:
    case Fate::deadline_queued:
    case Fate::deadline_running: {
      Read last;
      for (;;) {
        last = co_await read(stream, watchdog);
        if (last.kind != Read::Kind::token) break;
        ++tokens;
      }
      if (last.kind != Read::Kind::end) {
        record_abnormal(last);
        break;
      }
      // ignore_eos is on: every generation that ends by itself runs to max_tokens, and the stream
      // carries every one of them, a last token that llama-server withheld (it ends inside a
      // UTF-8 character) included, as an id -1 token.
      const GenerateResult result = stream.result();
      if (!stream.finished() || result.finish_reason != FinishReason::length || tokens != max_tokens ||
          result.metrics.generated_tokens != static_cast<uint64_t>(max_tokens)) {
        tally_.record(index, fate, Outcome::wrong_result, {},
                      fmt::format("ended with {} of {} tokens (server counted {}), finish_reason={}, finished={}",
                                  tokens, max_tokens, result.metrics.generated_tokens, to_string(result.finish_reason),
                                  stream.finished()));
      } else if (is_deadline(fate)) {
        tally_.record(index, fate, Outcome::deadline_not_reached);
      } else {
        note_queue_wait(result.metrics.queue_wait);
        tally_.record(index, fate, Outcome::completed);
      }
      break;
    }
  }
  finished_one();
}

void SoakDriver::note_queue_wait(std::chrono::nanoseconds wait) {
  const double ms = std::chrono::duration<double, std::milli>(wait).count();
  std::lock_guard lock(mutex_);
  queue_wait_estimate_ms_ = queue_wait_estimate_ms_ == 0
                                ? ms
                                : (1 - kQueueWaitSmoothing) * queue_wait_estimate_ms_ + kQueueWaitSmoothing * ms;
}

void SoakDriver::note_queued_cancel() {
  const uint64_t depth = model_->stats().queue_depth;
  std::lock_guard lock(mutex_);
  ++queued_cancels_;
  queue_depth_sum_ += depth;
  queue_depth_min_ = std::min(queue_depth_min_.value_or(depth), depth);
}

void SoakDriver::finished_one() {
  const uint32_t done = finished_.fetch_add(1) + 1;
  if (done == std::max<uint32_t>(1, options_.effective_baseline_after())) baseline_rss_.store(resident_bytes());
}

double SoakDriver::mean_queue_depth_at_queued_cancel() const {
  std::lock_guard lock(mutex_);
  return queued_cancels_ == 0 ? 0.0 : static_cast<double>(queue_depth_sum_) / static_cast<double>(queued_cancels_);
}

uint64_t SoakDriver::min_queue_depth_at_queued_cancel() const {
  std::lock_guard lock(mutex_);
  return queue_depth_min_.value_or(0);
}

}  // namespace inference::soak
