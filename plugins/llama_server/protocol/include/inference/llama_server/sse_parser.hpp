// SseParser: an incremental Server-Sent Events parser for llama-server's streaming responses
// (and any OpenAI-compatible server's: the openai plugin reads remote streams with it too).
// Feed it body bytes exactly as they arrive, split anywhere; pull complete events out of it.
//
// Accepts LF, CRLF and lone CR line ends (also a CR and its LF split across two feeds), joins
// multi-line `data:` fields with '\n', ignores comment lines (`: ping`) and the `event:`, `id:`
// and `retry:` fields, recognises the `data: [DONE]` terminator, and surfaces the legacy
// llama.cpp `error: {...}` field as an error event. Bytes are passed through unvalidated
// (invalid UTF-8 included); decoding the payload is the caller's business.
//
// Ownership: owns its buffers. An event's payload is a view into them, valid until the next
// call of feed(), next() or finish().
// Thread-safety: none; one parser per stream, used by one thread (or strand) at a time.
// Cancellation: nothing here blocks or waits.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace inference::llama_server {

struct SseEvent {
  enum class Kind {
    data,   // a `data:` event; payload holds the joined data lines
    done,   // `data: [DONE]` (OpenAI-style end of stream); payload is "[DONE]"
    error,  // a legacy `error:` line; payload holds its value
  };

  Kind kind = Kind::data;
  std::string_view payload;
};

class SseParser {
 public:
  // llama-server's largest event is the final chunk of a completion (~2 KiB, plus probabilities
  // and the prompt echo); 1 MiB leaves room for long prompts while bounding a runaway stream.
  static constexpr std::size_t kDefaultMaxEventBytes = 1024 * 1024;

  // max_event_bytes bounds both one line and one event's joined payload. peer names the sender in
  // error messages ("llama-server", "https://api.example.com").
  explicit SseParser(std::size_t max_event_bytes = kDefaultMaxEventBytes, std::string peer = "llama-server");

  // Appends raw body bytes. Throws Error(protocol_error) when the line being received grows
  // past the limit without ending.
  void feed(std::string_view bytes);

  // The next complete event from the bytes fed so far, or std::nullopt when more bytes are
  // needed. Throws Error(protocol_error) when a line or an event's payload exceeds the limit
  // (however the body was split into feeds).
  std::optional<SseEvent> next();

  // Call at the end of the body, after next() returned std::nullopt. Throws
  // Error(protocol_error) when the stream ended inside a line or an event (truncated stream).
  void finish() const;

  // True when bytes of an unfinished line or event are buffered.
  bool has_partial_event() const noexcept;

  // Forgets all state, keeping the buffers' capacity (reuse for the next stream).
  void reset() noexcept;

 private:
  std::optional<SseEvent> take_line(std::string_view line);

  std::size_t max_event_bytes_;
  std::string peer_;
  std::string input_;             // fed bytes not yet consumed
  std::size_t consumed_ = 0;      // prefix of input_ already parsed into lines
  std::size_t unterminated_ = 0;  // bytes at the end of input_ after its last line end
  std::string payload_;           // data (or error) lines of the current event
  bool event_has_field_ = false;  // the current event has a data/error field
  bool event_is_error_ = false;   // the current event carries a legacy `error:` field
  bool skip_leading_lf_ = false;  // last line ended in CR; an LF right after it belongs to it
  bool dispatched_ = false;       // payload_ was handed out; clear it on the next call
};

}  // namespace inference::llama_server
