#include "gateway_harness.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <mutex>
#include <sstream>

#include "support/test_inputs.hpp"

namespace inference::test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
using asio::ip::tcp;

struct LogLines {
  mutable std::mutex mutex;
  std::vector<std::string> lines;
};

namespace {

std::filesystem::path plugin_directory() {
  auto directory = environment_or_empty("INFERENCE_TEST_PLUGIN_DIR");
  return directory.empty() ? std::filesystem::path(GATEWAY_TEST_PLUGIN_DIR) : std::filesystem::path(directory);
}

std::string lower(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

tcp::socket connect_to(asio::io_context& io, uint16_t port) {
  tcp::socket socket(io);
  socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  return socket;
}

http::request<http::string_body> make_request(uint16_t port, const std::string& method, const std::string& target,
                                              const std::string& body,
                                              const std::map<std::string, std::string>& headers) {
  http::request<http::string_body> request{http::string_to_verb(method), target, 11};
  request.set(http::field::host, "127.0.0.1:" + std::to_string(port));
  for (const auto& [name, value] : headers) request.set(name, value);
  if (!body.empty() && request[http::field::content_type].empty())
    request.set(http::field::content_type, "application/json");
  request.body() = body;
  request.keep_alive(false);
  request.prepare_payload();
  return request;
}

}  // namespace

RunningGateway::RunningGateway(gateway::GatewayOptions options) : log_(std::make_shared<LogLines>()) {
  registry_ = std::make_unique<Registry>();
  PluginSearch search;
  search.directories = {plugin_directory()};
  search.use_environment = false;
  search.use_default = false;
  registry_->load_plugins(search);
  options.host = "127.0.0.1";
  options.port = 0;
  options.log = [log = log_](std::string_view line) {
    std::lock_guard lock(log->mutex);
    log->lines.emplace_back(line);
  };
  gateway_ = std::make_unique<gateway::Gateway>(io_.get_executor(), *registry_, std::move(options));
  auto started = asio::co_spawn(io_, gateway_->start(), asio::use_future);
  thread_ = std::thread([this] { io_.run(); });
  try {
    started.get();
  } catch (...) {
    shutdown();
    thread_.join();
    gateway_.reset();
    throw;
  }
  port_ = gateway_->port();
}

RunningGateway::~RunningGateway() {
  shutdown();
  if (thread_.joinable()) thread_.join();
  gateway_.reset();
}

void RunningGateway::begin_shutdown() {
  // Once only: after it the io_context runs out of work and its thread ends.
  if (!shutdown_done_.valid()) shutdown_done_ = asio::co_spawn(io_, gateway_->shutdown(), asio::use_future).share();
}

void RunningGateway::shutdown() {
  begin_shutdown();
  shutdown_done_.get();
}

std::vector<std::string> RunningGateway::log_lines() const {
  std::lock_guard lock(log_->mutex);
  return log_->lines;
}

gateway::GatewayOptions stub_gateway_options() {
  gateway::GatewayOptions options;
  options.models = {{"stub", "stub"}};
  options.backend = "stub";
  options.drain = std::chrono::seconds(5);
  return options;
}

json::value HttpAnswer::json() const { return json::parse(body); }

std::string HttpAnswer::header(const std::string& lower_case_name) const {
  const auto found = headers.find(lower_case_name);
  return found == headers.end() ? std::string() : found->second;
}

HttpAnswer http_request(uint16_t port, const std::string& method, const std::string& target, const std::string& body,
                        const std::map<std::string, std::string>& headers) {
  asio::io_context io;
  auto socket = connect_to(io, port);
  http::write(socket, make_request(port, method, target, body, headers));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64u << 20);
  http::read(socket, buffer, parser);
  HttpAnswer answer;
  answer.status = parser.get().result_int();
  for (const auto& field : parser.get()) answer.headers[lower(std::string(field.name_string()))] = field.value();
  answer.body = parser.get().body();
  return answer;
}

HttpAnswer post_json(uint16_t port, const std::string& target, const json::value& body,
                     const std::map<std::string, std::string>& headers) {
  return http_request(port, "POST", target, json::serialize(body), headers);
}

std::string raw_exchange(uint16_t port, const std::string& bytes) {
  asio::io_context io;
  auto socket = connect_to(io, port);
  asio::write(socket, asio::buffer(bytes));
  std::string answer;
  boost::system::error_code ec;
  char chunk[4096];
  for (;;) {
    const auto n = socket.read_some(asio::buffer(chunk), ec);
    if (ec) break;
    answer.append(chunk, n);
  }
  return answer;
}

SseClient::SseClient(uint16_t port, const std::string& target, const json::value& body,
                     const std::map<std::string, std::string>& headers)
    : socket_(io_) {
  socket_ = connect_to(io_, port);
  http::write(socket_, make_request(port, "POST", target, json::serialize(body), headers));
  parser_.body_limit(64u << 20);
  http::read_header(socket_, buffer_, parser_);
  status_ = parser_.get().result_int();
  if (status_ != 200) {
    boost::system::error_code ec;
    http::read(socket_, buffer_, parser_, ec);
    error_body_ = parser_.get().body();
    ended_ = true;
  }
}

bool SseClient::read_more() {
  if (ended_ || parser_.is_done()) return false;
  boost::system::error_code ec;
  http::read_some(socket_, buffer_, parser_, ec);
  if (ec) ended_ = true;
  return !ec || !parser_.get().body().empty();
}

std::optional<std::string> SseClient::next_event() {
  constexpr std::string_view kData = "data: ";
  for (;;) {
    const auto& body = parser_.get().body();
    const auto end = body.find("\n\n", consumed_);
    if (end != std::string::npos) {
      auto event = body.substr(consumed_, end - consumed_);
      consumed_ = end + 2;
      if (event.starts_with(kData)) return event.substr(kData.size());
      continue;  // a comment or another field: not data
    }
    if (ended_ || parser_.is_done()) return std::nullopt;
    const auto before = body.size();
    read_more();
    if (ended_ && parser_.get().body().size() == before) return std::nullopt;
  }
}

std::vector<std::string> SseClient::rest() {
  std::vector<std::string> events;
  while (auto event = next_event()) {
    events.push_back(*event);
    if (*event == "[DONE]") break;
  }
  return events;
}

void SseClient::hang_up() {
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  ended_ = true;
}

UnreadRequest::UnreadRequest(uint16_t port, const std::string& target, const json::value& body) : socket_(io_) {
  socket_ = connect_to(io_, port);
  http::write(socket_, make_request(port, "POST", target, json::serialize(body), {}));
}

void UnreadRequest::hang_up() {
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

std::optional<double> metric_value(uint16_t port, const std::string& sample_prefix) {
  const auto answer = http_request(port, "GET", "/metrics");
  std::istringstream lines(answer.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.starts_with(sample_prefix + " ")) return std::stod(line.substr(sample_prefix.size() + 1));
  }
  return std::nullopt;
}

bool eventually(const std::function<bool()>& check, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (check()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

}  // namespace inference::test
