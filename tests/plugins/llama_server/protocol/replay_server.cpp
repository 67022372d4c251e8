#include "replay_server.hpp"

#include <linux/sockios.h>
#include <stdlib.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <filesystem>
#include <stdexcept>

namespace inference::llama_server::test {
namespace {

namespace asio = boost::asio;
using boost::system::error_code;
using Socket = asio::local::stream_protocol::socket;

constexpr std::string_view kSocketFile = "replay.sock";
constexpr std::string_view kHeaderEnd = "\r\n\r\n";
// Clients send a key; the replay server accepts any.
constexpr std::string_view kApiKey = "replay-key";
// After the response, the server reads (and drops) until the client closes; small is enough.
constexpr std::size_t kDrainBytes = 4096;

std::filesystem::path make_private_directory() {
  std::string pattern = (std::filesystem::temp_directory_path() / "llama-replay-XXXXXX").native();
  if (::mkdtemp(pattern.data()) == nullptr) {  // mode 0700
    throw std::runtime_error("mkdtemp failed for " + pattern);
  }
  return pattern;
}

// The Content-Length of a request header block (0 when absent or unreadable).
std::size_t content_length(std::string_view head) {
  std::string lower(head);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  constexpr std::string_view kField = "\r\ncontent-length:";
  const std::size_t at = lower.find(kField);
  if (at == std::string::npos) {
    return 0;
  }
  std::size_t value = 0;
  for (std::size_t i = at + kField.size(); i < lower.size() && lower[i] != '\r'; ++i) {
    if (std::isdigit(static_cast<unsigned char>(lower[i])) != 0) {
      value = value * 10 + static_cast<std::size_t>(lower[i] - '0');
    }
  }
  return value;
}

// The offsets at which writes end: the script's split points and max_write pieces, up to end.
std::vector<std::size_t> write_ends(const ReplayResponse& response, std::size_t end) {
  std::vector<std::size_t> ends;
  for (const std::size_t at : response.split_at) {
    if (at > 0 && at < end) {
      ends.push_back(at);
    }
  }
  if (response.max_write > 0) {
    for (std::size_t at = response.max_write; at < end; at += response.max_write) {
      ends.push_back(at);
    }
  }
  ends.push_back(end);
  std::sort(ends.begin(), ends.end());
  ends.erase(std::unique(ends.begin(), ends.end()), ends.end());
  return ends;
}

// Yields to the io_context until the peer has read every byte written so far (or has gone:
// closing its end drops what it had not read, which also empties the queue).
asio::awaitable<void> until_read(Socket& socket) {
  for (;;) {
    int unread = 0;
    if (::ioctl(socket.native_handle(), SIOCOUTQ, &unread) != 0 || unread <= 0) {
      co_return;
    }
    co_await asio::post(socket.get_executor(), asio::use_awaitable);
  }
}

}  // namespace

struct ReplayServer::State {
  explicit State(asio::any_io_executor executor)
      : directory(make_private_directory()),
        endpoint(ServerEndpoint::unix_socket(directory / kSocketFile, std::string(kApiKey))),
        acceptor(executor) {}

  std::filesystem::path directory;
  ServerEndpoint endpoint;
  asio::local::stream_protocol::acceptor acceptor;
  ReplayResponse response;
  std::vector<std::weak_ptr<Socket>> sockets;
  std::size_t connections = 0;
  std::string last_request;
  std::size_t last_written = 0;
  bool stopped = false;
};

namespace {

asio::awaitable<void> serve(std::shared_ptr<ReplayServer::State> state, std::shared_ptr<Socket> socket,
                            ReplayResponse response, std::size_t connection) {
  error_code ec;
  std::string request;
  auto buffer = asio::dynamic_buffer(request, ReplayServer::kMaxRequestBytes);
  const std::size_t header_bytes =
      co_await asio::async_read_until(*socket, buffer, kHeaderEnd, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    co_return;
  }
  const std::size_t total = header_bytes + content_length(std::string_view(request).substr(0, header_bytes));
  if (request.size() < total) {
    co_await asio::async_read(*socket, buffer, asio::transfer_exactly(total - request.size()),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      co_return;
    }
  }
  state->last_request = request;

  const std::size_t end = std::min(response.close_at.value_or(response.bytes.size()), response.bytes.size());
  std::size_t offset = 0;
  for (const std::size_t next : write_ends(response, end)) {
    if (offset > 0) {
      co_await until_read(*socket);
    }
    const std::size_t written =
        co_await asio::async_write(*socket, asio::buffer(response.bytes.data() + offset, next - offset),
                                   asio::redirect_error(asio::use_awaitable, ec));
    offset += written;
    if (state->connections == connection) {
      state->last_written = offset;
    }
    if (ec) {
      break;
    }
  }
  if (!ec && !response.close_at) {
    // Like llama-server, leave the closing to the client once the response is complete.
    std::array<char, kDrainBytes> drain{};
    while (!ec) {
      co_await socket->async_read_some(asio::buffer(drain), asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  socket->shutdown(Socket::shutdown_both, ec);
  socket->close(ec);
}

asio::awaitable<void> accept_loop(std::shared_ptr<ReplayServer::State> state) {
  for (;;) {
    auto socket = std::make_shared<Socket>(state->acceptor.get_executor());
    error_code ec;
    co_await state->acceptor.async_accept(*socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec || state->stopped) {
      co_return;
    }
    const std::size_t connection = ++state->connections;
    state->last_written = 0;
    std::erase_if(state->sockets, [](const std::weak_ptr<Socket>& entry) { return entry.expired(); });
    state->sockets.push_back(socket);
    ReplayResponse response = state->response;
    asio::co_spawn(state->acceptor.get_executor(), serve(state, socket, std::move(response), connection),
                   asio::detached);
  }
}

}  // namespace

ReplayServer::ReplayServer(asio::any_io_executor executor) : state_(std::make_shared<State>(executor)) {
  const asio::local::stream_protocol::endpoint listen(state_->endpoint.socket_path().native());
  state_->acceptor.open(listen.protocol());
  state_->acceptor.bind(listen);
  state_->acceptor.listen();
  asio::co_spawn(executor, accept_loop(state_), asio::detached);
}

ReplayServer::~ReplayServer() {
  stop();
  std::error_code ignored;
  std::filesystem::remove_all(state_->directory, ignored);
}

const ServerEndpoint& ReplayServer::endpoint() const { return state_->endpoint; }
void ReplayServer::respond_with(ReplayResponse response) { state_->response = std::move(response); }
std::size_t ReplayServer::connections() const { return state_->connections; }
std::string ReplayServer::last_request() const { return state_->last_request; }
std::size_t ReplayServer::last_bytes_written() const { return state_->last_written; }

void ReplayServer::stop() {
  state_->stopped = true;
  error_code ignored;
  state_->acceptor.close(ignored);
  for (const std::weak_ptr<Socket>& entry : state_->sockets) {
    if (const std::shared_ptr<Socket> socket = entry.lock()) {
      socket->close(ignored);
    }
  }
  state_->sockets.clear();
}

std::string frame_chunked(const std::string& head, const std::string& body,
                          const std::vector<std::size_t>& chunk_ends) {
  std::string out = head;
  std::size_t offset = 0;
  std::vector<std::size_t> ends;
  for (const std::size_t at : chunk_ends) {
    if (at > 0 && at < body.size()) {
      ends.push_back(at);
    }
  }
  ends.push_back(body.size());
  std::sort(ends.begin(), ends.end());
  ends.erase(std::unique(ends.begin(), ends.end()), ends.end());
  constexpr std::string_view kHex = "0123456789abcdef";
  for (const std::size_t end : ends) {
    if (end == offset) {
      continue;
    }
    std::string size;
    for (std::size_t n = end - offset; n > 0; n /= kHex.size()) {
      size.insert(size.begin(), kHex[n % kHex.size()]);
    }
    out += size;
    out += "\r\n";
    out.append(body, offset, end - offset);
    out += "\r\n";
    offset = end;
  }
  out += "0\r\n\r\n";
  return out;
}

}  // namespace inference::llama_server::test
