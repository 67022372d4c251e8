#include "inference/llama_server/completion_stream.hpp"

#include <string>
#include <utility>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

// llama-server's native /completion stream ends with a chunk carrying stop: true; anything else
// (the body ending, or the OpenAI-style terminator) means the generation did not finish.
constexpr std::string_view kNoFinalChunk = "llama-server ended the stream without a final chunk";

}  // namespace

CompletionStreamReader::CompletionStreamReader(HttpConnection& connection, std::function<void()> on_bytes,
                                               std::size_t max_event_bytes)
    : connection_(connection), on_bytes_(std::move(on_bytes)), sse_(max_event_bytes) {}

boost::asio::awaitable<CompletionChunk*> CompletionStreamReader::next() {
  for (;;) {
    if (auto event = sse_.next()) {
      if (event->kind == SseEvent::Kind::error) {
        throw Error(errc::protocol_error, "llama-server stream error: " + std::string(event->payload));
      }
      if (event->kind == SseEvent::Kind::done) {
        throw Error(errc::protocol_error, std::string(kNoFinalChunk));
      }
      parser_.parse(event->payload, chunk_);
      co_return &chunk_;
    }
    const std::string_view bytes = co_await connection_.read_stream();
    if (bytes.empty()) {
      sse_.finish();
      throw Error(errc::protocol_error, std::string(kNoFinalChunk));
    }
    if (on_bytes_) {
      on_bytes_();
    }
    sse_.feed(bytes);
  }
}

}  // namespace inference::llama_server
