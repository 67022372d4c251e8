#include "http_reply.hpp"

#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/write.hpp>

namespace inference::gateway {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

constexpr std::string_view kServerName = "llmctl-serve";

// The origin to allow for this request, or empty: "*" allows any; otherwise only an exact match.
std::string allowed_origin(const HttpRequest& request, const GatewayOptions& options) {
  if (options.cors_origin.empty()) return {};
  if (options.cors_origin == "*") return "*";
  const auto origin = request[http::field::origin];
  return origin == options.cors_origin ? std::string(origin) : std::string();
}

}  // namespace

std::string cors_header_lines(const HttpRequest& request, const GatewayOptions& options) {
  const auto origin = allowed_origin(request, options);
  if (origin.empty()) return {};
  return "Access-Control-Allow-Origin: " + origin + "\r\nVary: Origin\r\n";
}

HttpResponse text_response(const HttpRequest& request, const GatewayOptions& options, unsigned status,
                           std::string content_type, std::string body) {
  HttpResponse response{static_cast<http::status>(status), request.version()};
  response.set(http::field::server, kServerName);
  response.set(http::field::content_type, content_type);
  if (const auto origin = allowed_origin(request, options); !origin.empty()) {
    response.set(http::field::access_control_allow_origin, origin);
    response.set(http::field::vary, "Origin");
  }
  response.keep_alive(request.keep_alive());
  response.body() = std::move(body);
  response.prepare_payload();
  return response;
}

HttpResponse json_response(const HttpRequest& request, const GatewayOptions& options, unsigned status,
                           std::string body) {
  return text_response(request, options, status, "application/json", std::move(body));
}

HttpResponse error_response(const HttpRequest& request, const GatewayOptions& options, const ApiError& error) {
  auto response = json_response(request, options, error.status(), error_body(error));
  if (error.retry_after) response.set(http::field::retry_after, std::to_string(error.retry_after->count()));
  if (error.status() == 401) response.set(http::field::www_authenticate, "Bearer");
  return response;
}

asio::awaitable<void> write_response(asio::ip::tcp::socket& socket, HttpResponse response) {
  co_await http::async_write(socket, response, asio::use_awaitable);
}

}  // namespace inference::gateway
