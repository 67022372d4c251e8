// RemoteStreamReader: the body of one started OpenAI streaming response, as decoded events: body
// bytes from RemoteConnection::read_stream(), SSE framing and its bounds by the llama-server
// protocol layer's SseParser (the same parser, limits and fuzz targets as the local engine), JSON
// by parse_remote_chunk(), and the rules for how such a stream may end.
//
// End rules: `data: [DONE]` ends the stream; the rest of the body is then read (normally just the
// chunked terminator) so the connection can carry the next request. A body that ends after an
// event with a finish_reason but without [DONE] is accepted too. A body that ends before either
// is a lost stream: RemoteError(backend_unavailable), transient (retried if nothing was delivered).
//
// Ownership: borrows the connection, which must outlive the reader.
// Thread-safety: none; one reader per stream, on the connection's strand.
// Cancellation: next() honours Asio cancellation like RemoteConnection::read_stream().
//
// Errors: an {"error":...} event throws RemoteError; a legacy `error:` line, malformed JSON, an
// SSE line or event over max_event_bytes throw Error(protocol_error); transport failures are
// RemoteConnection's.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <optional>
#include <string>

#include "inference/llama_server/sse_parser.hpp"
#include "inference/openai/remote_chunk.hpp"
#include "inference/openai/remote_connection.hpp"

namespace inference::openai {

// The event form of a stream: which endpoint answered.
enum class EventForm {
  completion,       // {api_root}/completions
  chat,             // {api_root}/chat/completions
  llama_completion  // llama-server's /completion with return_tokens (no [DONE]: it ends after "stop": true)
};

class RemoteStreamReader {
 public:
  // `peer` names the server in errors (its origin); `form` selects the event form.
  RemoteStreamReader(RemoteConnection& connection, std::string peer, EventForm form,
                     std::size_t max_event_bytes = llama_server::SseParser::kDefaultMaxEventBytes);

  // The next event, or std::nullopt once the stream has ended (see the end rules above).
  boost::asio::awaitable<std::optional<RemoteChunk>> next();

 private:
  // After [DONE]: reads what is left of the body, ignoring it.
  boost::asio::awaitable<void> drain();

  RemoteConnection& connection_;
  std::string peer_;
  EventForm form_;
  llama_server::SseParser sse_;
  bool finish_seen_ = false;
};

}  // namespace inference::openai
