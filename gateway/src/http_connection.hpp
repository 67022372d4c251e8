// One client connection: reads requests with the configured bounds (header and body size, idle
// time), answers each through the router, keeps the connection alive between requests, and
// answers a request it cannot read with one 4xx before closing. Internal to the gateway.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <memory>

#include "gateway_context.hpp"

namespace inference::gateway {

// Serves `connection` until the client closes it, a request cannot be read, or shutdown closes
// it. Never throws.
boost::asio::awaitable<void> serve_connection(GatewayContext& context, std::shared_ptr<Connection> connection);

// Answers 503 and closes: for a connection beyond GatewayOptions::max_connections.
boost::asio::awaitable<void> refuse_connection(boost::asio::ip::tcp::socket socket);

}  // namespace inference::gateway
