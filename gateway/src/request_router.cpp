#include "request_router.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <chrono>
#include <filesystem>
#include <string_view>
#include <system_error>

#include "completion_exchange.hpp"
#include "inference/gateway/api_error.hpp"
#include "inference/gateway/api_key.hpp"
#include "inference/gateway/openai_response.hpp"
#include "model_call_exchange.hpp"

namespace inference::gateway {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace json = boost::json;

namespace {

constexpr std::string_view kModelsPath = "/v1/models";

std::string_view path_of(const HttpRequest& request) {
  const std::string_view target = request.target();
  return target.substr(0, target.find('?'));
}

// The model file's modification time (Unix seconds), what /v1/models reports as "created".
int64_t created_of(const std::string& path) {
  std::error_code ec;
  const auto written = std::filesystem::last_write_time(path, ec);
  if (ec) return 0;
  const auto system = std::chrono::file_clock::to_sys(written);
  return std::chrono::duration_cast<std::chrono::seconds>(system.time_since_epoch()).count();
}

std::string models_body(const GatewayContext& context, std::string_view only = {}) {
  std::vector<ModelListing> listings;
  for (const auto& model : context.options.models) {
    if (!only.empty() && model.name != only) continue;
    listings.push_back({model.name, created_of(model.path)});
  }
  return models_list(listings);
}

json::object health_of(const ModelStatus& status) {
  json::object model{{"name", status.name}, {"state", to_string(status.state)}};
  if (!status.error.empty()) model["error"] = status.error;
  if (status.stats) {
    model["slots_total"] = status.stats->slots_total;
    model["slots_busy"] = status.stats->slots_busy;
    model["queue_depth"] = status.stats->queue_depth;
  }
  model["restarts"] = status.restarts_total;
  model["in_flight"] = status.in_flight;
  return model;
}

HttpResponse health_response(const GatewayContext& context, const HttpRequest& request) {
  json::array models;
  for (const auto& status : context.pool.status()) models.push_back(health_of(status));
  const bool healthy = context.pool.healthy() && !context.stopping;
  json::object body{{"status", context.stopping ? "stopping"
                               : healthy        ? "ok"
                                                : "unavailable"},
                    {"models", std::move(models)}};
  return json_response(request, context.options, healthy ? 200 : 503, json::serialize(body));
}

HttpResponse preflight_response(const GatewayContext& context, const HttpRequest& request) {
  auto response = text_response(request, context.options, 204, "text/plain", {});
  response.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
  response.set(http::field::access_control_allow_headers, "Authorization, Content-Type, X-Request-Timeout, X-Priority");
  response.set(http::field::access_control_max_age, "600");
  return response;
}

// The answers that need no model: everything but the two completion endpoints. Returns nullopt
// for those two.
std::optional<HttpResponse> simple_answer(GatewayContext& context, const HttpRequest& request, std::string_view path) {
  const auto method = request.method();
  const bool get = method == http::verb::get;
  if (path == "/health" && get) return health_response(context, request);
  if (path == "/metrics" && get) {
    return text_response(request, context.options, 200, "text/plain; version=0.0.4",
                         context.metrics.render(context.pool.status()));
  }
  if (path == kModelsPath && get) return json_response(request, context.options, 200, models_body(context));
  if (path.starts_with(kModelsPath) && path.size() > kModelsPath.size() + 1 && get) {
    const auto name = path.substr(kModelsPath.size() + 1);
    if (!context.pool.serves(name)) return std::nullopt;  // answered as an unknown model below
    const auto list = json::parse(models_body(context, name));
    return json_response(request, context.options, 200, json::serialize(list.at("data").as_array().at(0)));
  }
  return std::nullopt;
}

bool is_completion_path(std::string_view path) { return path == "/v1/chat/completions" || path == "/v1/completions"; }

bool is_known_path(std::string_view path) {
  return is_completion_path(path) || is_model_call_path(path) || path == "/health" || path == "/metrics" ||
         path.starts_with(kModelsPath);
}

ApiError route_error(const HttpRequest& request, std::string_view path) {
  if (path.starts_with(kModelsPath) && request.method() == http::verb::get) {
    const auto name = std::string(path.substr(std::min(path.size(), kModelsPath.size() + 1)));
    return api_error_from(Error(errc::model_not_found, "model '" + name + "' is not served here"));
  }
  if (is_known_path(path)) {
    return ApiError(405, "invalid_request_error", "method_not_allowed",
                    "method " + std::string(request.method_string()) + " is not allowed on " + std::string(path));
  }
  return ApiError(404, "invalid_request_error", "not_found", "no endpoint " + std::string(path));
}

}  // namespace

asio::awaitable<bool> route_request(GatewayContext& context, Connection& connection, boost::beast::flat_buffer& buffer,
                                    const HttpRequest& request) {
  const auto path = path_of(request);
  if (request.method() == http::verb::options && !context.options.cors_origin.empty()) {
    co_await write_response(connection.socket, preflight_response(context, request));
    co_return request.keep_alive();
  }
  const bool needs_key = path.starts_with("/v1/") || is_model_call_path(path);
  if (needs_key && !authorized(request[http::field::authorization], context.options.api_key)) {
    const ApiError error(401, "authentication_error", "invalid_api_key",
                         "missing or wrong API key (Authorization: Bearer ...)");
    context.metrics.record_http_response(401);
    co_await write_response(connection.socket, error_response(request, context.options, error));
    co_return request.keep_alive();
  }
  if (request.method() == http::verb::post && is_completion_path(path)) {
    const auto endpoint = path == "/v1/completions" ? Endpoint::completions : Endpoint::chat_completions;
    co_return co_await answer_completion(context, connection, buffer, request, endpoint);
  }
  if (request.method() == http::verb::post && is_model_call_path(path)) {
    co_return co_await answer_model_call(context, connection, request, path);
  }
  auto response = simple_answer(context, request, path);
  if (!response) response = error_response(request, context.options, route_error(request, path));
  context.metrics.record_http_response(response->result_int());
  co_await write_response(connection.socket, std::move(*response));
  co_return request.keep_alive();
}

}  // namespace inference::gateway
