#include "inference/openai/remote_stream.hpp"

#include <utility>

#include "inference/error.hpp"
#include "inference/openai/remote_error.hpp"

namespace inference::openai {
namespace {

// What may follow [DONE] is the chunked terminator (5 bytes); a server that keeps sending loses
// the connection rather than holding the stream's end.
constexpr std::size_t kMaxBytesAfterDone = 64 * 1024;

}  // namespace

RemoteStreamReader::RemoteStreamReader(RemoteConnection& connection, std::string peer, EventForm form,
                                       std::size_t max_event_bytes)
    : connection_(connection), peer_(std::move(peer)), form_(form), sse_(max_event_bytes, peer_) {}

boost::asio::awaitable<std::optional<RemoteChunk>> RemoteStreamReader::next() {
  for (;;) {
    if (auto event = sse_.next()) {
      if (event->kind == llama_server::SseEvent::Kind::error) {
        throw Error(errc::protocol_error, peer_ + " sent an SSE error line: " + std::string(event->payload));
      }
      if (event->kind == llama_server::SseEvent::Kind::done) {
        co_await drain();
        co_return std::nullopt;
      }
      RemoteChunk chunk = form_ == EventForm::llama_completion
                              ? parse_llama_completion_chunk(event->payload, peer_)
                              : parse_remote_chunk(event->payload, form_ == EventForm::chat, peer_);
      finish_seen_ = finish_seen_ || chunk.finish.has_value();
      co_return chunk;
    }
    const std::string_view bytes = co_await connection_.read_stream();
    if (bytes.empty()) {
      sse_.finish();
      if (finish_seen_) co_return std::nullopt;
      throw transport_error(peer_ + ": the stream ended before its last event (no finish_reason, no [DONE])", true);
    }
    sse_.feed(bytes);
  }
}

boost::asio::awaitable<void> RemoteStreamReader::drain() {
  std::size_t drained = 0;
  for (;;) {
    const std::string_view bytes = co_await connection_.read_stream();
    if (bytes.empty()) co_return;
    drained += bytes.size();
    if (drained > kMaxBytesAfterDone) {
      connection_.close();
      co_return;
    }
  }
}

}  // namespace inference::openai
