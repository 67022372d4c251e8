// Integration tests of HttpConnection against the real llama-server (see test_server.hpp).
#include "inference/llama_server/http_connection.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <optional>

#include "inference/error.hpp"
#include "inference/llama_server/apply_template_request.hpp"
#include "inference/llama_server/completion_chunk.hpp"
#include "inference/llama_server/completion_request.hpp"
#include "inference/llama_server/server_error.hpp"
#include "inference/llama_server/sse_parser.hpp"
#include "support/test_server.hpp"

namespace inference::llama_server {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using test::TestServer;
using test::TestServerOptions;

// A generation long enough to still be running when the test cancels it (~1500 tokens/s).
constexpr int kLongGeneration = 3000;
// How long llama-server may take to free a slot after the client went away.
constexpr std::chrono::seconds kSlotReleaseTimeout{5};
constexpr std::chrono::milliseconds kPollInterval{20};
// Long enough for a request to be in flight, short against the test timeout.
constexpr std::chrono::milliseconds kCancelAfter{100};

struct StreamResult {
  std::vector<CompletionChunk> chunks;
  std::size_t reads = 0;
};

// Reads a started /completion stream to its end through the SSE and chunk parsers.
asio::awaitable<StreamResult> read_completion(HttpConnection& connection) {
  StreamResult result;
  SseParser sse;
  CompletionChunkParser parser;
  for (;;) {
    const std::string_view bytes = co_await connection.read_stream();
    if (bytes.empty()) {
      break;
    }
    ++result.reads;
    sse.feed(bytes);
    while (auto event = sse.next()) {
      parser.parse(event->payload, result.chunks.emplace_back());
    }
  }
  sse.finish();
  co_return result;
}

// (co_await stays out of loop conditions and gtest macros: g++ 12 miscompiles some of those.)
asio::awaitable<void> drain_stream(HttpConnection& connection) {
  for (;;) {
    const std::string_view bytes = co_await connection.read_stream();
    if (bytes.empty()) {
      co_return;
    }
  }
}

asio::awaitable<unsigned> status_of(HttpConnection& connection, std::string_view target) {
  const HttpResponse response = co_await connection.request(HttpMethod::get, target);
  co_return response.status;
}

std::string long_completion_body(int slot) {
  CompletionParams params;
  params.prompt = std::string("Once upon a time");
  params.n_predict = kLongGeneration;
  params.id_slot = slot;
  return completion_request_body(params);
}

class HttpConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto reason = TestServer::skip_reason()) {
      GTEST_SKIP() << *reason;
    }
    server_.emplace(options_);
    run(server_->wait_ready());
  }

  template <typename T>
  T run(asio::awaitable<T> work) {
    auto future = asio::co_spawn(io_, std::move(work), asio::use_future);
    io_.restart();
    io_.run();
    return future.get();
  }

  HttpConnection connect_new(HttpLimits limits = {}) {
    return HttpConnection(io_.get_executor(), server_->endpoint(), limits);
  }

  // Polls /slots on a fresh connection until no slot is processing.
  asio::awaitable<bool> wait_until_all_slots_idle() {
    HttpConnection probe = connect_new();
    asio::steady_timer timer(io_);
    const auto deadline = std::chrono::steady_clock::now() + kSlotReleaseTimeout;
    while (std::chrono::steady_clock::now() < deadline) {
      const HttpResponse response = co_await probe.request(HttpMethod::get, "/slots");
      bool busy = false;
      const boost::json::value slots = boost::json::parse(response.body);
      for (const auto& slot : slots.as_array()) {
        busy = busy || slot.at("is_processing").as_bool();
      }
      if (!busy) {
        co_return true;
      }
      timer.expires_after(kPollInterval);
      co_await timer.async_wait(asio::use_awaitable);
    }
    co_return false;
  }

  TestServerOptions options_;
  asio::io_context io_;
  std::optional<TestServer> server_;
};

TEST_F(HttpConnectionTest, HealthAnswersOkOnceTheServerIsReady) {
  HttpConnection connection = connect_new();
  const HttpResponse response = run(connection.request(HttpMethod::get, "/health"));
  EXPECT_EQ(response.status, 200U);
  EXPECT_EQ(boost::json::parse(response.body), boost::json::parse(R"({"status":"ok"})"));
}

TEST_F(HttpConnectionTest, PropsReportTheConfiguredSlots) {
  HttpConnection connection = connect_new();
  const HttpResponse response = run(connection.request(HttpMethod::get, "/props"));
  const boost::json::value props = boost::json::parse(response.body);
  EXPECT_EQ(props.at("total_slots").to_number<int>(), options_.parallel_slots);
  EXPECT_EQ(props.at("default_generation_settings").at("n_ctx").to_number<int>(),
            options_.context_size / options_.parallel_slots);
}

TEST_F(HttpConnectionTest, AWrongApiKeyIsRejectedWithTheServersMessage) {
  const ServerEndpoint wrong_key = ServerEndpoint::unix_socket(server_->endpoint().socket_path(), "wrong");
  HttpConnection connection(io_.get_executor(), wrong_key);
  try {
    (void)run(connection.request(HttpMethod::get, "/slots"));
    FAIL() << "expected 401";
  } catch (const ServerError& e) {
    EXPECT_TRUE(e.is(errc::child_error));
    EXPECT_EQ(e.status(), 401U);
    EXPECT_EQ(e.server_message(), "Invalid API Key");
  }
}

TEST_F(HttpConnectionTest, AnErrorStatusClosesTheConnectionAndTheNextRequestReconnects) {
  HttpConnection connection = connect_new();
  try {
    (void)run(connection.request(HttpMethod::get, "/no-such-endpoint"));
    FAIL() << "expected 404";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.status(), 404U);
    EXPECT_EQ(e.type(), "not_found_error");
  }
  EXPECT_FALSE(connection.is_open());  // llama-server answers errors with Connection: close
  EXPECT_EQ(run(status_of(connection, "/health")), 200U);
  EXPECT_EQ(connection.connect_count(), 2U);
}

TEST_F(HttpConnectionTest, KeepAliveServesManyRequestsOnOneSocket) {
  HttpConnection connection = connect_new();
  const std::vector<unsigned> statuses = run([&]() -> asio::awaitable<std::vector<unsigned>> {
    std::vector<unsigned> seen;
    for (const char* target : {"/health", "/props", "/slots", "/health", "/props"}) {
      seen.push_back(co_await status_of(connection, target));
    }
    co_return seen;
  }());
  EXPECT_EQ(statuses, (std::vector<unsigned>(5, 200U)));
  EXPECT_EQ(connection.connect_count(), 1U);
  EXPECT_TRUE(connection.is_open());
}

TEST_F(HttpConnectionTest, EachFinishedStreamClosesTheSocketAndTheNextRequestReconnects) {
  HttpConnection connection = connect_new();
  CompletionParams params;
  params.prompt = std::string("Hello");
  params.n_predict = 2;
  const std::vector<unsigned> statuses = run([&]() -> asio::awaitable<std::vector<unsigned>> {
    std::vector<unsigned> seen;
    for (int i = 0; i < 2; ++i) {
      co_await connection.start_stream(HttpMethod::post, "/completion", completion_request_body(params));
      const StreamResult result = co_await read_completion(connection);
      seen.push_back(result.chunks.back().stop ? 1U : 0U);
      seen.push_back(connection.is_open() ? 1U : 0U);
      seen.push_back(co_await status_of(connection, "/health"));
    }
    co_return seen;
  }());
  // Per stream: it finished, the socket was closed, and the next request succeeded.
  EXPECT_EQ(statuses, (std::vector<unsigned>{1U, 0U, 200U, 1U, 0U, 200U}));
  EXPECT_EQ(connection.connect_count(), 3U);
}

TEST_F(HttpConnectionTest, StreamDeliversEveryCompletionChunkAsItArrives) {
  HttpConnection connection = connect_new();
  CompletionParams params;
  params.prompt = std::string("Hello");
  params.n_predict = 16;
  params.seed = 42;
  const StreamResult result = run([&]() -> asio::awaitable<StreamResult> {
    co_await connection.start_stream(HttpMethod::post, "/completion", completion_request_body(params));
    co_return co_await read_completion(connection);
  }());
  ASSERT_EQ(result.chunks.size(), 17U);
  for (std::size_t i = 0; i < 16; ++i) {
    EXPECT_FALSE(result.chunks[i].stop);
    EXPECT_EQ(result.chunks[i].tokens.size(), 1U);
  }
  const CompletionChunk& last = result.chunks.back();
  EXPECT_TRUE(last.stop);
  EXPECT_EQ(last.stop_type, StopType::limit);
  ASSERT_TRUE(last.timings);
  EXPECT_EQ(last.timings->predicted_n, 16);
  // Bytes are handed out as they arrive, not once the body is complete.
  EXPECT_GT(result.reads, 1U);
  EXPECT_FALSE(connection.stream_active());
}

TEST_F(HttpConnectionTest, AStreamRequestTheServerRejectsThrowsItsErrorBeforeAnyBody) {
  HttpConnection connection = connect_new();
  CompletionParams params;
  std::string prompt;
  for (int i = 0; i < options_.context_size; ++i) {
    prompt += "Hello ";
  }
  params.prompt = prompt;
  try {
    run(connection.start_stream(HttpMethod::post, "/completion", completion_request_body(params)));
    FAIL() << "expected 400";
  } catch (const ServerError& e) {
    EXPECT_EQ(e.status(), 400U);
    EXPECT_EQ(e.type(), "exceed_context_size_error");
    EXPECT_NE(e.server_message().find("exceeds the available context size"), std::string::npos);
  }
}

TEST_F(HttpConnectionTest, ApplyTemplateRendersChatMessages) {
  HttpConnection connection = connect_new();
  const std::vector<ChatMessage> messages{{"system", "Be brief."}, {"user", "Hi"}};
  const HttpResponse response =
      run(connection.request(HttpMethod::post, "/apply-template", apply_template_request_body(messages)));
  const std::string prompt = parse_apply_template_response(response.body);
  EXPECT_NE(prompt.find("Be brief."), std::string::npos) << prompt;
  EXPECT_NE(prompt.find("Hi"), std::string::npos) << prompt;
}

TEST_F(HttpConnectionTest, ABodyOverTheLimitIsAProtocolError) {
  HttpConnection connection = connect_new(HttpLimits{.max_body_bytes = 64});
  try {
    (void)run(connection.request(HttpMethod::get, "/props"));
    FAIL() << "expected a protocol error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    EXPECT_NE(std::string(e.what()).find("64 bytes"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(connection.is_open());
}

TEST_F(HttpConnectionTest, CancellingAStreamReadThrowsCancelledAndTheServerFreesTheSlot) {
  HttpConnection connection = connect_new();
  asio::cancellation_signal cancel;
  run([&]() -> asio::awaitable<void> {
    co_await connection.start_stream(HttpMethod::post, "/completion", long_completion_body(0));
    const std::string_view first = co_await connection.read_stream();
    EXPECT_FALSE(first.empty());
    asio::steady_timer timer(io_, kCancelAfter);
    timer.async_wait([&](const boost::system::error_code&) { cancel.emit(asio::cancellation_type::terminal); });
    try {
      co_await asio::co_spawn(io_, drain_stream(connection),
                              asio::bind_cancellation_slot(cancel.slot(), asio::use_awaitable));
      ADD_FAILURE() << "the stream ended before it was cancelled";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::cancelled)) << e.what();
    }
  }());
  EXPECT_FALSE(connection.is_open());
  EXPECT_TRUE(run(wait_until_all_slots_idle())) << "llama-server kept generating for a closed connection";
}

TEST_F(HttpConnectionTest, ClosingTheConnectionMidStreamStopsTheServerTask) {
  HttpConnection connection = connect_new();
  run([&]() -> asio::awaitable<void> {
    co_await connection.start_stream(HttpMethod::post, "/completion", long_completion_body(0));
    const std::string_view first = co_await connection.read_stream();
    EXPECT_FALSE(first.empty());
  }());
  EXPECT_TRUE(connection.stream_active());
  connection.close();
  EXPECT_FALSE(connection.stream_active());
  try {
    (void)run(connection.read_stream());
    FAIL() << "expected an error reading a closed stream";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::closed)) << e.what();
  }
  EXPECT_TRUE(run(wait_until_all_slots_idle())) << "llama-server kept generating for a closed connection";
  // The connection is usable again: the next request reconnects.
  EXPECT_EQ(run(status_of(connection, "/health")), 200U);
}

TEST_F(HttpConnectionTest, AWaitForABusySlotCanBeTimedOutWithAwaitableOperators) {
  HttpConnection busy = connect_new();
  HttpConnection waiting = connect_new();
  run([&]() -> asio::awaitable<void> {
    co_await busy.start_stream(HttpMethod::post, "/completion", long_completion_body(0));
    // llama-server defers a request pinned to a busy slot, so no response header arrives.
    asio::steady_timer timer(io_, kCancelAfter);
    const auto winner = co_await (waiting.start_stream(HttpMethod::post, "/completion", long_completion_body(0)) ||
                                  timer.async_wait(asio::use_awaitable));
    EXPECT_EQ(winner.index(), 1U) << "the request for a busy slot was answered";
  }());
  EXPECT_FALSE(waiting.is_open());
  busy.close();
  EXPECT_TRUE(run(wait_until_all_slots_idle()));
}

TEST_F(HttpConnectionTest, AnUnfinishedStreamIsAbandonedByTheNextRequest) {
  HttpConnection connection = connect_new();
  run([&]() -> asio::awaitable<void> {
    co_await connection.start_stream(HttpMethod::post, "/completion", long_completion_body(0));
    (void)co_await connection.read_stream();
    const unsigned status = co_await status_of(connection, "/health");
    EXPECT_EQ(status, 200U);
  }());
  EXPECT_EQ(connection.connect_count(), 2U);
  EXPECT_TRUE(run(wait_until_all_slots_idle()));
}

class HttpConnectionTcpTest : public HttpConnectionTest {
 protected:
  HttpConnectionTcpTest() { options_.use_tcp = true; }
};

TEST_F(HttpConnectionTcpTest, StreamsACompletionOverLoopbackTcp) {
  ASSERT_FALSE(server_->endpoint().is_unix_socket());
  HttpConnection connection = connect_new();
  CompletionParams params;
  params.prompt = std::string("Hello");
  params.n_predict = 4;
  const StreamResult result = run([&]() -> asio::awaitable<StreamResult> {
    const unsigned status = co_await status_of(connection, "/props");
    EXPECT_EQ(status, 200U);
    co_await connection.start_stream(HttpMethod::post, "/completion", completion_request_body(params));
    co_return co_await read_completion(connection);
  }());
  ASSERT_EQ(result.chunks.size(), 5U);
  EXPECT_EQ(result.chunks.back().stop_type, StopType::limit);
  EXPECT_EQ(connection.connect_count(), 1U);
}

TEST(HttpConnection, ConnectingToAMissingSocketReportsTheSystemError) {
  asio::io_context io;
  const auto endpoint = ServerEndpoint::unix_socket("/nonexistent-inference-test/llama.sock", "key");
  HttpConnection connection(io.get_executor(), endpoint);
  auto future = asio::co_spawn(io, connection.request(HttpMethod::get, "/health"), asio::use_future);
  io.run();
  try {
    (void)future.get();
    FAIL() << "expected a connect error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.code() == std::errc::no_such_file_or_directory) << e.code().message() << ": " << e.what();
    EXPECT_NE(std::string(e.what()).find("/nonexistent-inference-test/llama.sock"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace inference::llama_server
