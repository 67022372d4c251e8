// Routes one HTTP request to its answer: the OpenAI endpoints under /v1, /tokenize and /detokenize
// (behind the API key when one is configured), /health and /metrics (open: for probes and
// scrapers on the same host), CORS preflight when configured, 404 and 405 for everything else.
// Internal to the gateway.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "gateway_context.hpp"
#include "http_reply.hpp"

namespace inference::gateway {

// Answers `request`; returns whether the connection may carry another request.
boost::asio::awaitable<bool> route_request(GatewayContext& context, Connection& connection,
                                           boost::beast::flat_buffer& buffer, const HttpRequest& request);

}  // namespace inference::gateway
