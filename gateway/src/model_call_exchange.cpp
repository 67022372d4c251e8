#include "model_call_exchange.hpp"

#include <boost/system/system_error.hpp>
#include <string>

#include "inference/error.hpp"
#include "inference/gateway/api_error.hpp"
#include "inference/gateway/embedding_request.hpp"
#include "inference/gateway/tokenize_request.hpp"
#include "inference/text_model.hpp"

namespace inference::gateway {

namespace asio = boost::asio;

namespace {

constexpr std::string_view kEmbeddingsPath = "/v1/embeddings";
constexpr std::string_view kTokenizePath = "/tokenize";
constexpr std::string_view kDetokenizePath = "/detokenize";

asio::awaitable<std::string> embeddings(GatewayContext& context, const HttpRequest& request) {
  const EmbeddingRequest parsed = parse_embedding_request(request.body(), context.options.limits);
  ModelLease lease = co_await context.pool.acquire(parsed.model);
  const uint64_t dimension = lease.model().info().embedding_length;
  if (parsed.dimensions && *parsed.dimensions != dimension) {
    throw invalid_request("dimensions " + std::to_string(*parsed.dimensions) + " is not supported: model '" +
                              parsed.model + "' gives vectors of " + std::to_string(dimension),
                          "dimensions");
  }
  const std::vector<Embedding> vectors = co_await lease.model().embed(parsed.inputs);
  co_return embedding_response(vectors, parsed.model, parsed.base64);
}

asio::awaitable<std::string> tokenize(GatewayContext& context, const HttpRequest& request) {
  const TokenizeRequest parsed = parse_tokenize_request(request.body(), context.options.limits);
  ModelLease lease = co_await context.pool.acquire(parsed.model);
  const std::vector<Token> tokens = co_await lease.model().tokenize(parsed.content, parsed.add_special);
  co_return tokenize_response(tokens, parsed.with_pieces);
}

asio::awaitable<std::string> detokenize(GatewayContext& context, const HttpRequest& request) {
  const DetokenizeRequest parsed = parse_detokenize_request(request.body(), context.options.limits);
  ModelLease lease = co_await context.pool.acquire(parsed.model);
  const std::string content = co_await lease.model().detokenize(parsed.tokens);
  co_return detokenize_response(content);
}

// The answer, or the error the request ended with, as the client sees it.
asio::awaitable<HttpResponse> answer(GatewayContext& context, const HttpRequest& request, std::string_view path) {
  std::optional<ApiError> refusal;
  try {
    // One co_await per statement: g++ 12 miscompiles co_await inside a conditional expression.
    std::string body;
    if (path == kEmbeddingsPath) {
      body = co_await embeddings(context, request);
    } else if (path == kTokenizePath) {
      body = co_await tokenize(context, request);
    } else {
      body = co_await detokenize(context, request);
    }
    co_return json_response(request, context.options, 200, std::move(body));
  } catch (const ApiError& e) {
    refusal = e;
  } catch (const Error& e) {
    refusal = api_error_from(e);
  }
  co_return error_response(request, context.options, *refusal);
}

}  // namespace

bool is_model_call_path(std::string_view path) {
  return path == kEmbeddingsPath || path == kTokenizePath || path == kDetokenizePath;
}

asio::awaitable<bool> answer_model_call(GatewayContext& context, Connection& connection, const HttpRequest& request,
                                        std::string_view path) {
  if (context.options.log_requests) context.log("request body: " + request.body());
  HttpResponse response = co_await answer(context, request, path);
  context.metrics.record_http_response(response.result_int());
  try {
    co_await write_response(connection.socket, std::move(response));
  } catch (const boost::system::system_error&) {
    co_return false;  // the client is gone
  }
  co_return request.keep_alive();
}

}  // namespace inference::gateway
