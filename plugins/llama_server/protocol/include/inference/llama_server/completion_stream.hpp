// CompletionStreamReader: turns the body of one started `POST /completion` stream into decoded
// CompletionChunks: body bytes from HttpConnection::read_stream(), SSE framing by SseParser,
// JSON by CompletionChunkParser, and the rules for how such a stream may end. It is the
// engine's read loop (LlamaServerModel::run), kept apart so that tests drive exactly this code
// with replayed and mutated byte streams.
//
// Ownership: borrows the connection, which must outlive the reader; owns its parsers and the
// current chunk. A returned chunk pointer is valid (and may be moved from) until the next call.
// Thread-safety: none; one reader per stream, on the connection's thread or strand.
// Cancellation: next() honours Asio cancellation like HttpConnection::read_stream(): the
// connection is closed and Error(cancelled) thrown.
//
// Errors: `data: {"error":{…}}` throws ServerError (errc::child_error, the server's message);
// the legacy `error: …` line throws Error(protocol_error) quoting it; malformed JSON, a chunk
// without its required fields, an SSE line or event over max_event_bytes, `data: [DONE]` or the
// end of the body before the final chunk (stop: true) throw Error(protocol_error); transport
// failures are HttpConnection's errors (closed, protocol_error, system errors).
// UTF-8: body bytes reach the JSON decoder unchanged however they were split, so a character
// split across reads or HTTP chunks is delivered intact; invalid UTF-8 inside a chunk is
// malformed JSON, Error(protocol_error). (llama-server itself never sends it: it holds back an
// incomplete character until the next token and replaces invalid bytes with U+FFFD.)
#pragma once

#include <boost/asio/awaitable.hpp>
#include <cstddef>
#include <functional>

#include "inference/llama_server/completion_chunk.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/sse_parser.hpp"

namespace inference::llama_server {

class CompletionStreamReader {
 public:
  // on_bytes runs each time body bytes arrive (the engine's stall watchdog counts them as
  // progress); it must not throw.
  explicit CompletionStreamReader(HttpConnection& connection, std::function<void()> on_bytes = {},
                                  std::size_t max_event_bytes = SseParser::kDefaultMaxEventBytes);

  // The next chunk of the stream: a token chunk, or the final chunk (stop == true), after which
  // next() must not be called again. Never returns nullptr.
  boost::asio::awaitable<CompletionChunk*> next();

 private:
  HttpConnection& connection_;
  std::function<void()> on_bytes_;
  SseParser sse_;
  CompletionChunkParser parser_;
  CompletionChunk chunk_;
};

}  // namespace inference::llama_server
