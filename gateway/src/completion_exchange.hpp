// Answers POST /v1/chat/completions and /v1/completions on one connection: parses the body,
// takes the model from the pool, starts the runtime's stream and relays it as SSE chunks
// (stream: true) or as one JSON response, while watching the connection: a client that goes away
// cancels the stream (the queued request leaves the queue, or the running one frees its slot).
//
// Headers go out with the first token: every failure before it (a full queue, a deadline spent
// in the queue, a crashed server) is an HTTP status with an OpenAI error body; a failure after it
// is an SSE `data: {"error": ...}` event, then the stream ends properly.
//
// Internal to the gateway; runs on its single executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "gateway_context.hpp"
#include "http_reply.hpp"
#include "inference/gateway/openai_request.hpp"

namespace inference::gateway {

// Returns whether the connection may carry another request (false once the client is gone or
// the answer could not be written). Never throws for a client's fault or disappearance.
boost::asio::awaitable<bool> answer_completion(GatewayContext& context, Connection& connection,
                                               boost::beast::flat_buffer& buffer, const HttpRequest& request,
                                               Endpoint endpoint);

}  // namespace inference::gateway
