#include "inference/llama_server/sse_parser.hpp"

#include <string>
#include <utility>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

constexpr std::string_view kLineEnds = "\r\n";
constexpr std::string_view kDoneMarker = "[DONE]";

[[noreturn]] void throw_too_long(const std::string& peer, std::string_view what, std::size_t limit) {
  throw Error(errc::protocol_error,
              peer + " sent an SSE " + std::string(what) + " longer than " + std::to_string(limit) + " bytes");
}

}  // namespace

SseParser::SseParser(std::size_t max_event_bytes, std::string peer)
    : max_event_bytes_(max_event_bytes), peer_(std::move(peer)) {}

void SseParser::feed(std::string_view bytes) {
  // Drop what next() already parsed; only an unfinished line remains, so the move is short.
  if (consumed_ > 0) {
    input_.erase(0, consumed_);
    consumed_ = 0;
  }
  // Bound the unterminated line here, so a peer that never ends a line cannot grow input_.
  // Only that line counts: complete lines not yet pulled out by next() are not part of it.
  const std::size_t last_end = bytes.find_last_of(kLineEnds);
  const std::size_t unterminated =
      last_end == std::string_view::npos ? unterminated_ + bytes.size() : bytes.size() - last_end - 1;
  if (unterminated > max_event_bytes_) {
    throw_too_long(peer_, "line", max_event_bytes_);
  }
  input_.append(bytes);
  unterminated_ = unterminated;
}

std::optional<SseEvent> SseParser::next() {
  if (dispatched_) {
    payload_.clear();
    dispatched_ = false;
  }
  while (consumed_ < input_.size()) {
    if (skip_leading_lf_) {
      skip_leading_lf_ = false;
      if (input_[consumed_] == '\n') {
        ++consumed_;
        continue;
      }
    }
    const std::size_t end = input_.find_first_of(kLineEnds, consumed_);
    if (end == std::string::npos) {
      return std::nullopt;
    }
    const std::string_view line(input_.data() + consumed_, end - consumed_);
    // feed() sees only the unterminated end of each chunk; a line that began in an earlier
    // chunk and ended in this one is measured here, so the verdict does not depend on where
    // the body was split.
    if (line.size() > max_event_bytes_) {
      throw_too_long(peer_, "line", max_event_bytes_);
    }
    consumed_ = end + 1;
    if (input_[end] == '\r') {
      if (consumed_ < input_.size()) {
        if (input_[consumed_] == '\n') {
          ++consumed_;
        }
      } else {
        // The LF of a CRLF may arrive with the next feed().
        skip_leading_lf_ = true;
      }
    }
    if (auto event = take_line(line)) {
      return event;
    }
  }
  return std::nullopt;
}

std::optional<SseEvent> SseParser::take_line(std::string_view line) {
  if (line.empty()) {
    if (!event_has_field_) {
      return std::nullopt;
    }
    // Every data line was appended with a trailing '\n'; the last one is not part of the data.
    payload_.pop_back();
    SseEvent event{event_is_error_ ? SseEvent::Kind::error : SseEvent::Kind::data, payload_};
    if (event.kind == SseEvent::Kind::data && event.payload == kDoneMarker) {
      event.kind = SseEvent::Kind::done;
    }
    event_has_field_ = false;
    event_is_error_ = false;
    dispatched_ = true;
    return event;
  }
  if (line.front() == ':') {
    return std::nullopt;  // comment, e.g. a keep-alive ping
  }
  const std::size_t colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') {
    value.remove_prefix(1);
  }
  const bool is_data = field == "data";
  const bool is_error = field == "error";
  if (!is_data && !is_error) {
    return std::nullopt;  // event:, id:, retry: and unknown fields carry nothing we use
  }
  if (payload_.size() + value.size() + 1 > max_event_bytes_) {
    throw_too_long(peer_, "event", max_event_bytes_);
  }
  payload_.append(value);
  payload_.push_back('\n');
  event_has_field_ = true;
  event_is_error_ = event_is_error_ || is_error;
  return std::nullopt;
}

void SseParser::finish() const {
  if (has_partial_event()) {
    throw Error(errc::protocol_error, peer_ + "'s event stream ended in the middle of an event (truncated response)");
  }
}

bool SseParser::has_partial_event() const noexcept { return consumed_ < input_.size() || event_has_field_; }

void SseParser::reset() noexcept {
  input_.clear();
  consumed_ = 0;
  unterminated_ = 0;
  payload_.clear();
  event_has_field_ = false;
  event_is_error_ = false;
  skip_leading_lf_ = false;
  dispatched_ = false;
}

}  // namespace inference::llama_server
