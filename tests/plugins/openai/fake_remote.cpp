#include "fake_remote.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <list>
#include <optional>
#include <stdexcept>

namespace inference::openai::test {

namespace asio = boost::asio;
namespace http = boost::beast::http;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using boost::system::error_code;

namespace {

// An endless line is written in pieces of this size, up to the bound (far beyond any client
// limit under test; it keeps the server's own loop bounded).
constexpr std::size_t kEndlessPieceBytes = 64 * 1024;
constexpr std::size_t kMaxEndlessBytes = 256 * 1024 * 1024;

std::string chunk(const std::string& body) {
  char size[32];
  std::snprintf(size, sizeof(size), "%zx\r\n", body.size());
  return size + body + "\r\n";
}

constexpr std::string_view kSseHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";

}  // namespace

std::string sse_answer(const std::string& events) { return std::string(kSseHead) + chunk(events) + "0\r\n\r\n"; }

std::string cut_sse_answer(const std::string& events) { return std::string(kSseHead) + chunk(events); }

std::string completion_events(const std::vector<std::string>& texts) {
  std::string events;
  for (const std::string& text : texts) {
    events += R"(data: {"choices":[{"text":)" + boost::json::serialize(boost::json::value(text)) +
              R"(,"index":0,"finish_reason":null}],"object":"text_completion"})" + "\n\n";
  }
  events += R"(data: {"choices":[{"text":"","index":0,"finish_reason":"length"}],"usage":{"prompt_tokens":3,)"
            R"("completion_tokens":)" +
            std::to_string(texts.size()) + "}}\n\n";
  events += "data: [DONE]\n\n";
  return events;
}

std::string error_answer(unsigned status, const std::string& type, const std::string& message,
                         const std::string& extra_headers) {
  const std::string body = R"({"error":{"message":)" + boost::json::serialize(boost::json::value(message)) +
                           R"(,"type":")" + type + R"(","code":)" + std::to_string(status) + "}}";
  return "HTTP/1.1 " + std::to_string(status) +
         " Refused\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n" +
         extra_headers + "\r\n" + body;
}

struct FakeRemote::State {
  State(asio::any_io_executor executor_in, std::vector<FakeAnswer> answers_in)
      : executor(executor_in), acceptor(executor_in), answers(std::move(answers_in)), signal(executor_in) {
    signal.expires_at(asio::steady_timer::time_point::max());
  }

  const FakeAnswer& answer_for_latest_request() const {
    return answers[std::min(requests.size() - 1, answers.size() - 1)];
  }

  void client_left() {
    ++disconnects;
    signal.cancel();
  }

  asio::any_io_executor executor;
  tcp::acceptor acceptor;
  std::vector<FakeAnswer> answers;
  std::optional<ssl::context> tls;
  std::vector<FakeRequest> requests;
  std::size_t connections = 0;
  std::size_t disconnects = 0;
  std::list<std::function<void()>> closers;  // one per session: closes its socket
  asio::steady_timer signal;                 // cancelled at each disconnect: wakes wait_for_disconnects()
};

namespace {

// Reads until the client closes its side.
template <class Stream>
asio::awaitable<void> wait_for_close(Stream& stream) {
  std::array<char, 512> sink{};
  for (;;) {
    error_code ec;
    co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

template <class Stream>
asio::awaitable<void> write_endless_line(Stream& stream, const std::string& head) {
  error_code ec;
  const std::string opening = head + chunk("data: ");
  co_await asio::async_write(stream, asio::buffer(opening), asio::redirect_error(asio::use_awaitable, ec));
  const std::string piece = chunk(std::string(kEndlessPieceBytes, 'x'));
  for (std::size_t written = 0; !ec && written < kMaxEndlessBytes; written += kEndlessPieceBytes) {
    co_await asio::async_write(stream, asio::buffer(piece), asio::redirect_error(asio::use_awaitable, ec));
  }
}

// Answers requests on one connection as scripted. Returns when the connection ends.
template <class Stream>
asio::awaitable<void> serve(std::shared_ptr<FakeRemote::State> state, Stream& stream) {
  boost::beast::flat_buffer buffer;
  for (;;) {
    http::request<http::string_body> request;
    error_code ec;
    co_await http::async_read(stream, buffer, request, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      state->client_left();
      co_return;
    }
    state->requests.push_back(FakeRequest{std::string(request.target()),
                                          std::string(request[http::field::authorization]), request.body(),
                                          std::chrono::steady_clock::now()});
    const FakeAnswer answer = state->answer_for_latest_request();
    if (answer.kind == FakeAnswer::Kind::hang) {
      co_await wait_for_close(stream);
      state->client_left();
      co_return;
    }
    if (answer.kind == FakeAnswer::Kind::endless_line) {
      co_await write_endless_line(stream, answer.bytes);
      state->client_left();
      co_return;
    }
    co_await asio::async_write(stream, asio::buffer(answer.bytes), asio::redirect_error(asio::use_awaitable, ec));
    if (ec || answer.close_after) co_return;
  }
}

asio::awaitable<void> plain_session(std::shared_ptr<FakeRemote::State> state, tcp::socket socket) {
  auto shared = std::make_shared<tcp::socket>(std::move(socket));
  state->closers.emplace_back([weak = std::weak_ptr<tcp::socket>(shared)] {
    if (auto s = weak.lock()) s->close();
  });
  co_await serve(state, *shared);
  shared->close();
}

asio::awaitable<void> tls_session(std::shared_ptr<FakeRemote::State> state, tcp::socket socket) {
  auto shared = std::make_shared<ssl::stream<tcp::socket>>(std::move(socket), *state->tls);
  state->closers.emplace_back([weak = std::weak_ptr<ssl::stream<tcp::socket>>(shared)] {
    if (auto s = weak.lock()) s->lowest_layer().close();
  });
  error_code ec;
  co_await shared->async_handshake(ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    state->client_left();  // the client refused the certificate
    co_return;
  }
  co_await serve(state, *shared);
  shared->lowest_layer().close();
}

asio::awaitable<void> accept_loop(std::shared_ptr<FakeRemote::State> state) {
  for (;;) {
    error_code ec;
    tcp::socket socket = co_await state->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    ++state->connections;
    if (state->tls) {
      asio::co_spawn(state->executor, tls_session(state, std::move(socket)), asio::detached);
    } else {
      asio::co_spawn(state->executor, plain_session(state, std::move(socket)), asio::detached);
    }
  }
}

}  // namespace

FakeRemote::FakeRemote(asio::any_io_executor executor, std::vector<FakeAnswer> answers, const TlsFiles& tls)
    : state_(std::make_shared<State>(executor, std::move(answers))) {
  state_->tls.emplace(ssl::context::tls_server);
  state_->tls->use_certificate_chain_file(tls.certificate.string());
  state_->tls->use_private_key_file(tls.private_key.string(), ssl::context::pem);
  listen();
}

FakeRemote::FakeRemote(asio::any_io_executor executor, std::vector<FakeAnswer> answers)
    : state_(std::make_shared<State>(executor, std::move(answers))) {
  listen();
}

void FakeRemote::listen() {
  const tcp::endpoint loopback(asio::ip::make_address("127.0.0.1"), 0);
  state_->acceptor.open(loopback.protocol());
  state_->acceptor.bind(loopback);
  state_->acceptor.listen();
  asio::co_spawn(state_->executor, accept_loop(state_), asio::detached);
}

FakeRemote::~FakeRemote() { stop(); }

std::uint16_t FakeRemote::port() const { return state_->acceptor.local_endpoint().port(); }
std::vector<FakeRequest> FakeRemote::requests() const { return state_->requests; }
std::size_t FakeRemote::connections() const { return state_->connections; }
std::size_t FakeRemote::disconnects() const { return state_->disconnects; }

asio::awaitable<void> FakeRemote::wait_for_disconnects(std::size_t count) {
  const std::shared_ptr<State> state = state_;
  while (state->disconnects < count) {
    error_code ec;
    co_await state->signal.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

void FakeRemote::stop() {
  error_code ignored;
  state_->acceptor.close(ignored);
  for (auto& close : state_->closers) close();
  state_->closers.clear();
  state_->signal.cancel();
}

TlsFiles make_self_signed_certificate(const std::filesystem::path& directory, const std::string& name) {
  TlsFiles files(directory / "cert.pem", directory / "key.pem");
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 -keyout '" +
      files.private_key.string() + "' -out '" + files.certificate.string() + "' -subj '/CN=" + name +
      "' -addext 'subjectAltName=DNS:" + name + "' > '" + (directory / "openssl.log").string() + "' 2>&1";
  if (std::system(command.c_str()) != 0) {
    throw std::runtime_error("openssl could not make a test certificate: " + command);
  }
  return files;
}

}  // namespace inference::openai::test
