#include "server_slots_probe.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/json/parse.hpp>

#include "inference/error.hpp"
#include "process_probe.hpp"

namespace inference::soak {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

// What the engine puts in the child's environment (plugins/llama_server launch_spec.hpp); the
// soak reads it from /proc instead of linking the engine.
constexpr std::string_view kApiKeyVariable = "LLAMA_API_KEY";
// llama-server treats a --host ending in this as a UNIX socket path.
constexpr std::string_view kSocketSuffix = ".sock";
constexpr int kHttpVersion = 11;

SlotsView parse_slots(const std::string& body) {
  boost::system::error_code ec;
  const auto doc = boost::json::parse(body, ec);
  if (ec || !doc.is_array()) throw Error(errc::protocol_error, "GET /slots: not a JSON array: " + body.substr(0, 200));
  SlotsView view;
  for (const auto& slot : doc.get_array()) {
    ++view.total;
    const auto* object = slot.if_object();
    const auto* processing = object ? object->if_contains("is_processing") : nullptr;
    if (processing == nullptr || !processing->is_bool()) {
      throw Error(errc::protocol_error, "GET /slots: a slot without is_processing");
    }
    if (processing->as_bool()) ++view.processing;
  }
  return view;
}

template <typename Socket>
asio::awaitable<std::string> get_slots_body(Socket socket, std::string host, std::string api_key) {
  http::request<http::empty_body> request(http::verb::get, "/slots", kHttpVersion);
  request.set(http::field::host, host);
  request.set(http::field::authorization, "Bearer " + api_key);
  request.keep_alive(false);
  co_await http::async_write(socket, request, asio::use_awaitable);
  boost::beast::flat_buffer buffer;
  http::response<http::string_body> response;
  co_await http::async_read(socket, buffer, response, asio::use_awaitable);
  if (response.result() != http::status::ok) {
    throw Error(errc::child_error,
                "GET /slots: HTTP " + std::to_string(response.result_int()) + ": " + response.body());
  }
  co_return std::move(response.body());
}

asio::awaitable<std::string> fetch(const ServerAddress& address) {
  auto executor = co_await asio::this_coro::executor;
  if (!address.socket_path.empty()) {
    asio::local::stream_protocol::socket socket(executor);
    co_await socket.async_connect(asio::local::stream_protocol::endpoint(address.socket_path), asio::use_awaitable);
    co_return co_await get_slots_body(std::move(socket), "localhost", address.api_key);
  }
  asio::ip::tcp::socket socket(executor);
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address("127.0.0.1"), address.port);
  co_await socket.async_connect(endpoint, asio::use_awaitable);
  co_return co_await get_slots_body(std::move(socket), "127.0.0.1:" + std::to_string(address.port), address.api_key);
}

}  // namespace

std::string ServerAddress::describe() const {
  return socket_path.empty() ? "http://127.0.0.1:" + std::to_string(port) : "unix:" + socket_path;
}

std::optional<ServerAddress> server_address_of(pid_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  const auto argv = split_nul(read_proc_file(proc + "/cmdline"));
  ServerAddress address;
  for (std::size_t i = 0; i + 1 < argv.size(); ++i) {
    if (argv[i] == "--host" && argv[i + 1].ends_with(kSocketSuffix)) address.socket_path = argv[i + 1];
    if (argv[i] == "--port") address.port = static_cast<uint16_t>(std::stoul(argv[i + 1]));
  }
  for (const auto& entry : split_nul(read_proc_file(proc + "/environ"))) {
    if (entry.size() > kApiKeyVariable.size() && entry.starts_with(kApiKeyVariable) &&
        entry[kApiKeyVariable.size()] == '=') {
      address.api_key = entry.substr(kApiKeyVariable.size() + 1);
    }
  }
  if (address.socket_path.empty() && address.port == 0) return std::nullopt;
  return address;
}

asio::awaitable<SlotsView> query_slots(ServerAddress address) {
  asio::steady_timer timeout(co_await asio::this_coro::executor, kSlotsRequestTimeout);
  auto first = co_await (fetch(address) || timeout.async_wait(asio::use_awaitable));
  if (first.index() == 1) {
    throw Error(errc::cancelled, "GET /slots on " + address.describe() + ": no answer within " +
                                     std::to_string(kSlotsRequestTimeout.count()) + " s");
  }
  co_return parse_slots(std::get<0>(first));
}

}  // namespace inference::soak
