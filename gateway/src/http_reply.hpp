// The gateway's HTTP answers that are not a token stream: JSON bodies, OpenAI-shaped errors, and
// the headers every answer carries (Server, CORS when configured, Retry-After on refusals).
// Internal to the gateway; single executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <string>

#include "inference/gateway/api_error.hpp"
#include "inference/gateway/gateway.hpp"

namespace inference::gateway {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

// The CORS header lines for a request (empty unless options.cors_origin is set and the request's
// Origin is allowed), each ending in CRLF: for responses written by hand (SSE).
std::string cors_header_lines(const HttpRequest& request, const GatewayOptions& options);

HttpResponse json_response(const HttpRequest& request, const GatewayOptions& options, unsigned status,
                           std::string body);
HttpResponse text_response(const HttpRequest& request, const GatewayOptions& options, unsigned status,
                           std::string content_type, std::string body);
// error_body() with the error's status; Retry-After when the error has one; 401 adds
// WWW-Authenticate: Bearer.
HttpResponse error_response(const HttpRequest& request, const GatewayOptions& options, const ApiError& error);

// Writes `response`. Throws boost::system::system_error when the client is gone.
boost::asio::awaitable<void> write_response(boost::asio::ip::tcp::socket& socket, HttpResponse response);

}  // namespace inference::gateway
