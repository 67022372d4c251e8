// Protocol robustness of the engine's /completion client (HttpConnection + CompletionStreamReader,
// the code LlamaServerModel runs) against byte streams captured from the real llama-server and
// replayed by ReplayServer: split at every byte, one byte per write, with pings, CRLF, error
// events, truncations, invalid JSON, huge lines, split and invalid UTF-8, bad HTTP. Each stream
// must yield the real server's tokens or a typed inference::Error, never a crash or a hang.
//
// The capture is made once per test binary from the real llama-server (skipped with a reason
// when it or the model is missing); every mutation starts from those captured bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/json/parse.hpp>
#include <chrono>
#include <cstdio>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/llama_server/completion_request.hpp"
#include "inference/llama_server/completion_stream.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/server_error.hpp"
#include "replay_server.hpp"
#include "support/test_server.hpp"

namespace inference::llama_server {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace asio::experimental::awaitable_operators;
using test::ReplayResponse;
using test::ReplayServer;
using test::TestServer;

// Long enough for a few token events (each ~500 bytes with probabilities) plus the final
// chunk, short enough that replaying it split at every byte offset stays quick.
constexpr int kCaptureTokens = 8;
constexpr int kCaptureProbabilities = 2;
constexpr std::uint32_t kCaptureSeed = 42;
// A stream that has not ended after this long is a hang (the replays take milliseconds; this
// allows for a loaded machine under ASan). Not a performance threshold: it only turns a hang
// into a failure.
constexpr std::chrono::seconds kHangTimeout{30};
// Capturing from the real server: bounded like any other wait.
constexpr std::size_t kMaxCaptureBytes = 1024 * 1024;
// A prompt longer than one slot's context (TestServer: 8192 over 2 slots), for a real 400.
constexpr int kOverlongPromptWords = 5000;
constexpr std::string_view kEventEnd = "\n\n";

// ---------------------------------------------------------------------------------------------
// Capture from the real server.

// What the real llama-server sent for one request: the bytes on the socket, split into the
// header block and the decoded body.
struct Captured {
  std::string raw;   // status line, headers and chunked body, byte for byte
  std::string head;  // up to and including the blank line
  std::string body;  // decoded (de-chunked) body
  unsigned status = 0;
};

// The exact request bytes HttpConnection sends for (target, body): recorded by a ReplayServer
// that answers nothing and closes.
asio::awaitable<std::string> engine_request_bytes(std::string api_key, std::string body) {
  auto executor = co_await asio::this_coro::executor;
  ReplayServer recorder(executor);
  ReplayResponse nothing;
  nothing.close_at = 0;
  recorder.respond_with(nothing);
  const ServerEndpoint endpoint = ServerEndpoint::unix_socket(recorder.endpoint().socket_path(), api_key);
  HttpConnection connection(executor, endpoint);
  try {
    co_await connection.start_stream(HttpMethod::post, "/completion", body);
  } catch (const Error&) {
    // The recorder closes without answering.
  }
  co_return recorder.last_request();
}

// Sends request bytes to the real server and reads the raw response until it is complete.
asio::awaitable<Captured> capture_raw(ServerEndpoint endpoint, std::string request) {
  auto executor = co_await asio::this_coro::executor;
  asio::local::stream_protocol::socket socket(executor);
  co_await socket.async_connect(asio::local::stream_protocol::endpoint(endpoint.socket_path().native()),
                                asio::use_awaitable);
  co_await asio::async_write(socket, asio::buffer(request), asio::use_awaitable);
  Captured captured;
  http::response_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(kMaxCaptureBytes);
  std::size_t parsed = 0;
  std::array<char, 4096> buffer{};
  while (!parser.is_done()) {
    const std::size_t n = co_await socket.async_read_some(asio::buffer(buffer), asio::use_awaitable);
    captured.raw.append(buffer.data(), n);
    if (captured.raw.size() > kMaxCaptureBytes) {
      throw std::runtime_error("capture: response too large");
    }
    boost::system::error_code ec;
    for (;;) {
      const std::size_t used = parser.put(asio::buffer(captured.raw.data() + parsed, captured.raw.size() - parsed), ec);
      parsed += used;
      if (ec == http::error::need_more) {
        ec = {};
        break;
      }
      if (ec) {
        throw std::runtime_error("capture: llama-server's response does not parse: " + ec.message());
      }
      if (parser.is_done() || used == 0) {
        break;
      }
    }
  }
  captured.head = captured.raw.substr(0, captured.raw.find("\r\n\r\n") + 4);
  captured.body = parser.get().body();
  captured.status = parser.get().result_int();
  co_return captured;
}

CompletionParams engine_like_params() {
  // What LlamaServerModel::run sends for a generate() with logprobs and a seed.
  CompletionParams params;
  params.prompt = std::string("Once upon a time");
  params.n_predict = kCaptureTokens;
  params.seed = kCaptureSeed;
  params.n_probs = kCaptureProbabilities;
  params.id_slot = 0;
  params.cache_prompt = true;
  return params;
}

struct Captures {
  std::string request_body;  // the /completion body the replays are asked with
  Captured stream;           // a streamed completion
  Captured rejected;         // a 400 for a prompt over the context size
};

asio::awaitable<Captures> capture_all(ServerEndpoint endpoint) {
  Captures captures;
  captures.request_body = completion_request_body(engine_like_params());
  std::string request = co_await engine_request_bytes(endpoint.api_key(), captures.request_body);
  captures.stream = co_await capture_raw(endpoint, request);

  CompletionParams overlong = engine_like_params();
  std::string prompt;
  for (int i = 0; i < kOverlongPromptWords; ++i) {
    prompt += "Hello ";
  }
  overlong.prompt = prompt;
  std::string overlong_body = completion_request_body(overlong);
  request = co_await engine_request_bytes(endpoint.api_key(), overlong_body);
  captures.rejected = co_await capture_raw(endpoint, request);
  co_return captures;
}

// ---------------------------------------------------------------------------------------------
// Reading through the engine's code.

struct Outcome {
  std::vector<TokenId> ids;
  std::string text;
  bool finished = false;  // the final chunk arrived
  StopType stop_type = StopType::none;
  std::optional<std::error_code> error;  // an inference::Error's code
  std::string what;
  std::optional<std::string> server_message;  // a ServerError's
  std::optional<unsigned> server_status;
  bool untyped = false;  // something other than inference::Error escaped
  bool hung = false;
};

std::string describe(const Outcome& outcome) {
  if (outcome.hung) {
    return "hung";
  }
  if (outcome.untyped) {
    return "untyped exception: " + outcome.what;
  }
  if (outcome.error) {
    return "error " + outcome.error->message() + ": " + outcome.what;
  }
  return std::to_string(outcome.ids.size()) + " tokens, finished=" + (outcome.finished ? "yes" : "no");
}

asio::awaitable<Outcome> read_through_engine(ServerEndpoint endpoint, std::string request_body,
                                             std::size_t max_event_bytes) {
  Outcome outcome;
  HttpConnection connection(co_await asio::this_coro::executor, endpoint);
  try {
    co_await connection.start_stream(HttpMethod::post, "/completion", request_body);
    CompletionStreamReader reader(connection, {}, max_event_bytes);
    for (;;) {
      CompletionChunk* chunk = co_await reader.next();
      if (chunk->stop) {
        outcome.finished = true;
        outcome.stop_type = chunk->stop_type;
        break;
      }
      outcome.ids.insert(outcome.ids.end(), chunk->tokens.begin(), chunk->tokens.end());
      outcome.text += chunk->content;
    }
  } catch (const ServerError& e) {
    outcome.error = e.code();
    outcome.what = e.what();
    outcome.server_message = e.server_message();
    outcome.server_status = e.status();
  } catch (const Error& e) {
    outcome.error = e.code();
    outcome.what = e.what();
  } catch (const std::exception& e) {
    outcome.untyped = true;
    outcome.what = e.what();
  }
  co_return outcome;
}

asio::awaitable<Outcome> bounded_read(ServerEndpoint endpoint, std::string request_body, std::size_t max_event_bytes) {
  asio::steady_timer timer(co_await asio::this_coro::executor, kHangTimeout);
  auto first =
      co_await (read_through_engine(endpoint, request_body, max_event_bytes) || timer.async_wait(asio::use_awaitable));
  if (first.index() == 1) {
    Outcome hung;
    hung.hung = true;
    co_return hung;
  }
  co_return std::get<0>(std::move(first));
}

// The body's events ("data: …" blocks without their terminating blank line).
std::vector<std::string> split_events(const std::string& body) {
  std::vector<std::string> events;
  std::size_t offset = 0;
  while (offset < body.size()) {
    const std::size_t end = body.find(kEventEnd, offset);
    if (end == std::string::npos) {
      events.push_back(body.substr(offset));
      break;
    }
    events.push_back(body.substr(offset, end - offset));
    offset = end + kEventEnd.size();
  }
  return events;
}

std::string join_events(const std::vector<std::string>& events) {
  std::string body;
  for (const std::string& event : events) {
    body += event;
    body += kEventEnd;
  }
  return body;
}

// The token ids the server sent, read straight from the captured JSON (not through the engine).
std::vector<TokenId> ids_in(const std::string& body) {
  std::vector<TokenId> ids;
  for (const std::string& event : split_events(body)) {
    const boost::json::value chunk = boost::json::parse(event.substr(event.find('{')));
    if (chunk.at("stop").as_bool()) {
      continue;
    }
    for (const auto& id : chunk.at("tokens").as_array()) {
      ids.push_back(static_cast<TokenId>(id.to_number<std::int64_t>()));
    }
  }
  return ids;
}

class SseReplayTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (auto reason = TestServer::skip_reason()) {
      skip_reason_ = *reason;
      return;
    }
    TestServer server;
    asio::io_context io;
    auto future = asio::co_spawn(
        io,
        [&]() -> asio::awaitable<Captures> {
          co_await server.wait_ready();
          co_return co_await capture_all(server.endpoint());
        },
        asio::use_future);
    io.run();
    captures_ = future.get();
    expected_ids_ = ids_in(captures_->stream.body);
  }

  void SetUp() override {
    if (!captures_) {
      GTEST_SKIP() << skip_reason_;
    }
    server_.emplace(io_.get_executor());
  }

  static const Captured& stream() { return captures_->stream; }
  static const std::vector<TokenId>& expected_ids() { return expected_ids_; }

  // A response with the captured head and `body` re-framed as one HTTP chunk per event.
  static std::string reframed(const std::string& body) {
    std::vector<std::size_t> ends;
    for (std::size_t at = body.find(kEventEnd); at != std::string::npos; at = body.find(kEventEnd, at + 1)) {
      ends.push_back(at + kEventEnd.size());
    }
    return test::frame_chunked(stream().head, body, ends);
  }

  Outcome replay(const ReplayResponse& response, std::size_t max_event_bytes = SseParser::kDefaultMaxEventBytes) {
    server_->respond_with(response);
    auto future = asio::co_spawn(io_, bounded_read(server_->endpoint(), captures_->request_body, max_event_bytes),
                                 asio::use_future);
    run_until_ready(future);
    return future.get();
  }

  // Runs the io_context until the future is ready (the replay server's listener keeps it busy
  // for ever, so run() would not return). Bounded by the hang timeout inside the work.
  template <typename Future>
  void run_until_ready(Future& future) {
    io_.restart();
    while (future.wait_for(std::chrono::seconds(0)) != std::future_status::ready && io_.run_one() > 0) {
    }
  }

  Outcome replay_body(const std::string& body, std::size_t max_event_bytes = SseParser::kDefaultMaxEventBytes) {
    return replay(ReplayResponse(reframed(body)), max_event_bytes);
  }

  void expect_tokens(const Outcome& outcome, const std::string& what) {
    EXPECT_FALSE(outcome.error) << what << ": " << describe(outcome);
    EXPECT_TRUE(outcome.finished) << what << ": " << describe(outcome);
    EXPECT_EQ(outcome.ids, expected_ids()) << what;
  }

  void expect_error(const Outcome& outcome, errc code, const std::string& message_part) {
    ASSERT_TRUE(outcome.error) << describe(outcome);
    EXPECT_EQ(*outcome.error, make_error_code(code)) << describe(outcome);
    EXPECT_NE(outcome.what.find(message_part), std::string::npos) << outcome.what;
  }

  static inline std::optional<Captures> captures_;
  static inline std::vector<TokenId> expected_ids_;
  static inline std::string skip_reason_;

  asio::io_context io_;
  std::optional<ReplayServer> server_;
};

// ---------------------------------------------------------------------------------------------
// Unmodified and re-split streams: the real tokens.

TEST_F(SseReplayTest, TheCaptureReplayedUnchangedYieldsExactlyTheTokenIdsTheServerSent) {
  ASSERT_EQ(stream().status, 200U);
  ASSERT_NE(stream().head.find("chunked"), std::string::npos) << stream().head;
  ASSERT_EQ(expected_ids().size(), static_cast<std::size_t>(kCaptureTokens));
  const Outcome outcome = replay(ReplayResponse(stream().raw));
  expect_tokens(outcome, "unchanged");
  EXPECT_EQ(outcome.stop_type, StopType::limit);
  // The replayed request is the engine's, byte for byte the one the capture answered.
  EXPECT_NE(server_->last_request().find(captures_->request_body), std::string::npos);
}

TEST_F(SseReplayTest, TheCaptureSplitIntoTwoWritesAtEveryByteOffsetYieldsTheSameTokens) {
  const std::string& raw = stream().raw;
  const auto start = std::chrono::steady_clock::now();
  std::size_t failures = 0;
  for (std::size_t k = 1; k < raw.size(); ++k) {
    ReplayResponse response(raw);
    response.split_at = {k};
    const Outcome outcome = replay(response);
    if (outcome.error || !outcome.finished || outcome.ids != expected_ids()) {
      if (++failures <= 5) {
        ADD_FAILURE() << "split at " << k << ": " << describe(outcome);
      }
    }
  }
  EXPECT_EQ(failures, 0U);
  EXPECT_EQ(server_->connections(), raw.size() - 1);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("[ MEASURE  ] %zu split offsets replayed in %.2f s\n", raw.size() - 1, seconds);
}

TEST_F(SseReplayTest, TheCaptureWrittenOneByteAtATimeYieldsTheSameTokens) {
  ReplayResponse response(stream().raw);
  response.max_write = 1;
  expect_tokens(replay(response), "one byte per write");
}

TEST_F(SseReplayTest, EachWriteReachesTheClientAsAReadOfItsOwn) {
  // The replay server's guarantee the split tests rest on: with one byte per write, every byte
  // of the body comes out of HttpConnection::read_stream() on its own.
  ReplayResponse response(stream().raw);
  response.max_write = 1;
  server_->respond_with(response);
  HttpConnection connection(io_.get_executor(), server_->endpoint());
  std::vector<std::size_t> read_sizes;
  auto work = [&]() -> asio::awaitable<void> {
    co_await connection.start_stream(HttpMethod::post, "/completion", captures_->request_body);
    for (;;) {
      const std::string_view bytes = co_await connection.read_stream();
      if (bytes.empty()) {
        co_return;
      }
      read_sizes.push_back(bytes.size());
    }
  };
  auto future = asio::co_spawn(io_, work(), asio::use_future);
  run_until_ready(future);
  future.get();
  EXPECT_EQ(read_sizes.size(), stream().body.size());
  EXPECT_EQ(std::count(read_sizes.begin(), read_sizes.end(), 1U), static_cast<std::ptrdiff_t>(read_sizes.size()));
}

TEST_F(SseReplayTest, TheBodyReframedAsOneHttpChunkPerByteYieldsTheSameTokens) {
  const std::string& body = stream().body;
  std::vector<std::size_t> every_byte;
  for (std::size_t k = 1; k < body.size(); ++k) {
    every_byte.push_back(k);
  }
  expect_tokens(replay(ReplayResponse(test::frame_chunked(stream().head, body, every_byte))), "byte chunks");
}

TEST_F(SseReplayTest, PingCommentsBetweenAndInsideEventsAreIgnored) {
  std::string body = ": ping\n\n";
  for (const std::string& event : split_events(stream().body)) {
    body += ": ping\n" + event + "\n: ping - inside the event\n\n: ping\n\n";
  }
  expect_tokens(replay_body(body), "pings");
}

TEST_F(SseReplayTest, CrlfLineEndsYieldTheSameTokensAlsoWhenCrAndLfArriveApart) {
  std::string body;
  for (const char c : stream().body) {
    body += c == '\n' ? std::string("\r\n") : std::string(1, c);
  }
  expect_tokens(replay_body(body), "CRLF");
  ReplayResponse response(reframed(body));
  response.max_write = 1;  // every CR and its LF in separate reads
  expect_tokens(replay(response), "CRLF one byte per write");
}

// ---------------------------------------------------------------------------------------------
// Errors inside the stream.

TEST_F(SseReplayTest, ALegacyErrorLineIsAProtocolErrorCarryingTheServersMessage) {
  std::vector<std::string> events = split_events(stream().body);
  events.resize(2);
  events.emplace_back(R"(error: {"code":500,"message":"replayed legacy failure","type":"server_error"})");
  const Outcome outcome = replay_body(join_events(events));
  expect_error(outcome, errc::protocol_error, "replayed legacy failure");
  EXPECT_EQ(outcome.ids, std::vector<TokenId>(expected_ids().begin(), expected_ids().begin() + 2));
}

TEST_F(SseReplayTest, ADataErrorObjectIsAServerErrorWithTheServersMessage) {
  std::vector<std::string> events = split_events(stream().body);
  events.resize(3);
  events.emplace_back(R"(data: {"error":{"code":500,"message":"replayed failure","type":"server_error"}})");
  const Outcome outcome = replay_body(join_events(events));
  expect_error(outcome, errc::child_error, "replayed failure");
  EXPECT_EQ(outcome.server_message, std::optional<std::string>("replayed failure"));
  EXPECT_EQ(outcome.server_status, std::optional<unsigned>(500));
  EXPECT_EQ(outcome.ids, std::vector<TokenId>(expected_ids().begin(), expected_ids().begin() + 3));
}

TEST_F(SseReplayTest, InvalidJsonInADataLineIsAProtocolErrorNamingIt) {
  std::vector<std::string> events = split_events(stream().body);
  events[1] = events[1].substr(0, events[1].size() / 2);  // a JSON object cut in half
  expect_error(replay_body(join_events(events)), errc::protocol_error, "not valid JSON");
}

TEST_F(SseReplayTest, ADataLineThatIsNotAChunkIsAProtocolErrorNamingTheField) {
  std::vector<std::string> events = split_events(stream().body);
  events[1] = R"(data: {"content":7,"stop":false})";
  expect_error(replay_body(join_events(events)), errc::protocol_error, "\"content\" is not a string");
}

// ---------------------------------------------------------------------------------------------
// Streams that end early.

TEST_F(SseReplayTest, ABodyThatEndsBeforeTheFinalChunkIsAProtocolError) {
  std::vector<std::string> events = split_events(stream().body);
  events.pop_back();
  const Outcome outcome = replay_body(join_events(events));
  expect_error(outcome, errc::protocol_error, "without a final chunk");
  EXPECT_EQ(outcome.ids, expected_ids());  // every token before the cut was delivered
}

TEST_F(SseReplayTest, ADoneMarkerBeforeTheFinalChunkIsAProtocolError) {
  std::vector<std::string> events = split_events(stream().body);
  events.back() = "data: [DONE]";
  expect_error(replay_body(join_events(events)), errc::protocol_error, "without a final chunk");
}

TEST_F(SseReplayTest, ABodyThatEndsInsideAnEventIsAProtocolError) {
  const std::string& body = stream().body;
  const std::size_t last_event = body.rfind("data: ");
  const std::string cut = body.substr(0, last_event + (body.size() - last_event) / 2);
  expect_error(replay_body(cut), errc::protocol_error, "truncated");
}

TEST_F(SseReplayTest, AConnectionClosedInsideAnEventIsClosed) {
  ReplayResponse response(stream().raw);
  response.close_at = stream().raw.rfind("data: ") + 10;
  expect_error(replay(response), errc::closed, "closed the connection");
}

TEST_F(SseReplayTest, AConnectionClosedInsideAChunkHeaderIsClosed) {
  // Re-framed so that a chunk-size line is long enough to cut inside: "1a3" + CRLF.
  const std::string framed = reframed(stream().body);
  const std::size_t chunk_header = framed.find("\r\n", stream().head.size() + 1) + 2;  // after the first chunk
  const std::size_t second_header = framed.find("\r\n", chunk_header) + 2;
  ReplayResponse response(framed);
  response.close_at = second_header + 1;
  expect_error(replay(response), errc::closed, "closed the connection");
}

TEST_F(SseReplayTest, AConnectionClosedAtEveryByteOffsetEndsInTokensOrAClosedErrorNeverAHang) {
  const std::string& raw = stream().raw;
  std::size_t finished = 0;
  std::size_t failures = 0;
  for (std::size_t k = 0; k <= raw.size(); ++k) {
    ReplayResponse response(raw);
    response.close_at = k;
    const Outcome outcome = replay(response);
    const bool closed = outcome.error && *outcome.error == make_error_code(errc::closed);
    const bool complete = !outcome.error && outcome.finished && outcome.ids == expected_ids();
    finished += complete ? 1 : 0;
    if (!closed && !complete && ++failures <= 5) {
      ADD_FAILURE() << "closed at " << k << ": " << describe(outcome);
    }
  }
  EXPECT_EQ(failures, 0U);
  // Exactly the cuts at or after the end of the final event (inside the terminating zero-size
  // chunk, or none) still finish: the engine stops reading at the final chunk.
  const std::size_t final_event_end = raw.rfind(kEventEnd) + kEventEnd.size();
  EXPECT_EQ(finished, raw.size() - final_event_end + 1);
}

// ---------------------------------------------------------------------------------------------
// Bounds.

TEST_F(SseReplayTest, AHugeLineOverTheConfiguredBoundIsAProtocolErrorReadNoFurtherThanTheBound) {
  constexpr std::size_t kBound = 64 * 1024;
  constexpr std::size_t kHugeLine = 16 * 1024 * 1024;
  constexpr std::size_t kWrite = 16 * 1024;
  const std::vector<std::string> events = split_events(stream().body);
  std::string body = events[0] + std::string(kEventEnd);
  body += "data: {\"content\":\"" + std::string(kHugeLine, 'a');  // never ends
  std::vector<std::size_t> chunks;
  for (std::size_t at = kWrite; at < body.size(); at += kWrite) {
    chunks.push_back(at);
  }
  ReplayResponse response(test::frame_chunked(stream().head, body, chunks));
  response.max_write = kWrite;
  const Outcome outcome = replay(response, kBound);
  expect_error(outcome, errc::protocol_error, "longer than " + std::to_string(kBound));
  // The client stopped reading once the line passed the bound: what the server could write is
  // the bound plus the client's buffers (HttpConnection: 16 KiB socket buffer, 16 KiB body
  // chunk) and the write in flight, not the 16 MiB line.
  const std::size_t slack = stream().head.size() + events[0].size() + 4 * kWrite;
  EXPECT_LE(server_->last_bytes_written(), kBound + slack);
  std::printf("[ MEASURE  ] huge line: %zu of %zu bytes written before the client gave up\n",
              server_->last_bytes_written(), response.bytes.size());
}

TEST_F(SseReplayTest, AHugeEventOverTheEnginesDefaultBoundIsAProtocolError) {
  // Many short data lines: each line is fine, the joined event is not.
  const std::size_t line_count = SseParser::kDefaultMaxEventBytes / 8;  // 13 bytes each
  std::string body = "data: {\"content\":\"\",\n";
  for (std::size_t i = 0; i < line_count; ++i) {
    body += "data: \"padding\":1,\n";
  }
  body += "\n";
  expect_error(replay_body(body), errc::protocol_error,
               "longer than " + std::to_string(SseParser::kDefaultMaxEventBytes));
}

// ---------------------------------------------------------------------------------------------
// UTF-8: the stream's bytes pass through untouched; the JSON decoder accepts only valid UTF-8.

TEST_F(SseReplayTest, MultibyteUtf8SplitAcrossChunksAndReadsIsDeliveredIntact) {
  const std::string text = "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80";  // é € 😀
  std::vector<std::string> events = split_events(stream().body);
  const std::size_t content = events[0].find("\"content\":\"") + 11;
  const std::size_t content_end = events[0].find("\",\"", content);
  events[0].replace(content, content_end - content, text);
  const std::string body = join_events(events);
  // A chunk boundary and a write boundary inside every character.
  const std::size_t at = body.find(text);
  const std::vector<std::size_t> inside{at + 1, at + 3, at + 4, at + 6, at + 7, at + 8};
  ReplayResponse response(test::frame_chunked(stream().head, body, inside));
  response.max_write = 3;
  const Outcome outcome = replay(response);
  expect_tokens(outcome, "split UTF-8");
  EXPECT_EQ(outcome.text.substr(0, text.size()), text);
}

TEST_F(SseReplayTest, InvalidUtf8SplitAcrossChunksIsAProtocolErrorNotMangledText) {
  std::vector<std::string> events = split_events(stream().body);
  const std::size_t content = events[1].find("\"content\":\"") + 11;
  events[1].insert(content, "\xE2\x82\xFF\xC3");  // a truncated sequence, a stray byte, a lead byte
  const std::string body = join_events(events);
  const std::size_t at = body.find("\xE2\x82");
  ReplayResponse response(test::frame_chunked(stream().head, body, {at + 1, at + 2, at + 3}));
  response.max_write = 2;
  const Outcome outcome = replay(response);
  expect_error(outcome, errc::protocol_error, "not valid JSON");
  EXPECT_EQ(outcome.ids, std::vector<TokenId>(expected_ids().begin(), expected_ids().begin() + 1));
}

// ---------------------------------------------------------------------------------------------
// HTTP level.

TEST_F(SseReplayTest, TheServersRealErrorResponseIsAServerErrorWithItsMessageEvenOneBytePerWrite) {
  const Captured& rejected = captures_->rejected;
  ASSERT_EQ(rejected.status, 400U) << rejected.raw;
  ReplayResponse response(rejected.raw);
  response.max_write = 1;
  const Outcome outcome = replay(response);
  expect_error(outcome, errc::child_error, "exceed");
  EXPECT_EQ(outcome.server_status, std::optional<unsigned>(400));
  ASSERT_TRUE(outcome.server_message);
  EXPECT_NE(outcome.server_message->find("exceeds the available context size"), std::string::npos);
}

TEST_F(SseReplayTest, GarbageInsteadOfAStatusLineIsAProtocolError) {
  expect_error(replay(ReplayResponse("SSH-2.0-OpenSSH_9.2\r\n\r\n")), errc::protocol_error, "malformed HTTP");
}

TEST_F(SseReplayTest, AGarbledHeaderLineIsAProtocolError) {
  std::string raw = stream().raw;
  raw.insert(raw.find("\r\n") + 2, "this header has no colon\r\n");
  expect_error(replay(ReplayResponse(raw)), errc::protocol_error, "malformed HTTP");
}

TEST_F(SseReplayTest, AHeaderBlockOverTheLimitIsAProtocolError) {
  std::string raw = stream().raw;
  raw.insert(raw.find("\r\n") + 2, "X-Padding: " + std::string(HttpLimits::kDefaultMaxHeaderBytes, 'x') + "\r\n");
  expect_error(replay(ReplayResponse(raw)), errc::protocol_error, "header exceeds");
}

TEST_F(SseReplayTest, AnInvalidChunkSizeIsAProtocolError) {
  std::string framed = reframed(stream().body);
  const std::size_t first_chunk = stream().head.size();
  framed.replace(first_chunk, framed.find("\r\n", first_chunk) - first_chunk, "zz");
  expect_error(replay(ReplayResponse(framed)), errc::protocol_error, "malformed HTTP");
}

TEST_F(SseReplayTest, AChunkSizeThatOverflowsIsAProtocolError) {
  std::string framed = reframed(stream().body);
  const std::size_t first_chunk = stream().head.size();
  framed.replace(first_chunk, framed.find("\r\n", first_chunk) - first_chunk, "1ffffffffffffffff");
  expect_error(replay(ReplayResponse(framed)), errc::protocol_error, "malformed HTTP");
}

TEST_F(SseReplayTest, AnEndlessChunkHeaderIsAProtocolErrorReadNoFurtherThanTheHeaderLimit) {
  constexpr std::size_t kEndless = 16 * 1024 * 1024;
  constexpr std::size_t kWrite = 16 * 1024;
  // A chunk extension that never ends: the chunk-size line must be bounded like a header.
  ReplayResponse response(stream().head + "1;" + std::string(kEndless, 'a'));
  response.max_write = kWrite;
  const Outcome outcome = replay(response);
  expect_error(outcome, errc::protocol_error, "exceeds");
  EXPECT_LE(server_->last_bytes_written(), HttpLimits::kDefaultMaxHeaderBytes + stream().head.size() + 4 * kWrite);
  std::printf("[ MEASURE  ] endless chunk header: %zu of %zu bytes written before the client gave up\n",
              server_->last_bytes_written(), response.bytes.size());
}

TEST_F(SseReplayTest, AnUnframedBodyEndedByTheServerClosingIsReadToItsEnd) {
  // Neither chunked nor Content-Length: HTTP/1.1 allows a body that ends when the server closes.
  std::string head = stream().head;
  const std::size_t te = head.find("Transfer-Encoding: chunked\r\n");
  ASSERT_NE(te, std::string::npos) << head;
  head.erase(te, std::string_view("Transfer-Encoding: chunked\r\n").size());
  ReplayResponse response(head + stream().body);
  response.close_at = response.bytes.size();
  expect_tokens(replay(response), "close-delimited");
}

// ---------------------------------------------------------------------------------------------
// Cancellation (HttpConnection): the race behind the once-flaky
// HttpConnectionTest.CancellingAStreamReadThrowsCancelledAndTheServerFreesTheSlot, made
// deterministic.

TEST_F(SseReplayTest, ACancellationThatLandsAfterAReadCompletedIsStillErrorCancelled) {
  server_->respond_with(ReplayResponse(stream().raw));  // one write: the whole response at once
  HttpConnection connection(io_.get_executor(), server_->endpoint());
  asio::cancellation_signal cancel;
  std::size_t reads = 0;
  auto work = [&]() -> asio::awaitable<void> {
    co_await connection.start_stream(HttpMethod::post, "/completion", captures_->request_body);
    // The response is already buffered, so the next read completes at once and its completion
    // is queued behind this emit: the cancellation arrives after the read has succeeded.
    asio::post(io_, [&] { cancel.emit(asio::cancellation_type::terminal); });
    for (;;) {
      const std::string_view bytes = co_await connection.read_stream();
      if (bytes.empty()) {
        co_return;
      }
      ++reads;
    }
  };
  auto future = asio::co_spawn(io_, work(), asio::bind_cancellation_slot(cancel.slot(), asio::use_future));
  run_until_ready(future);
  try {
    future.get();
    ADD_FAILURE() << "the stream was read to its end despite the cancellation (" << reads << " reads)";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::cancelled)) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "an untyped exception escaped: " << e.what();
  }
  EXPECT_FALSE(connection.is_open());
}

}  // namespace
}  // namespace inference::llama_server
