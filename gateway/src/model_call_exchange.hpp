// Answers the endpoints that ask a served model one question and get one JSON answer, with no
// token stream: POST /v1/embeddings (TextModel::embed()), POST /tokenize and POST /detokenize
// (TextModel::tokenize(), detokenize()). The body is parsed and checked first (400 naming the
// field), the model taken from the pool (404 unknown, its load failure), and a runtime error is
// answered in the gateway's error shape (e.g. a model not loaded for embeddings: 400 with the
// runtime's message).
//
// Unlike completions these are not cancelled when the client goes away: each is short (one
// batch of embeddings, one tokenisation) and its answer is simply not written.
// Internal to the gateway; runs on its single executor.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string_view>

#include "gateway_context.hpp"
#include "http_reply.hpp"

namespace inference::gateway {

// Whether `path` is one of these endpoints (they are POST only).
bool is_model_call_path(std::string_view path);

// Returns whether the connection may carry another request.
boost::asio::awaitable<bool> answer_model_call(GatewayContext& context, Connection& connection,
                                               const HttpRequest& request, std::string_view path);

}  // namespace inference::gateway
