// The openai backend through its plugin against scripted loopback servers: retries and
// Retry-After, timeouts, a server dying mid-stream, refusals, bounded SSE lines, keep-alive,
// cancellation, and TLS certificate checks with a self-signed certificate made for the test.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <fstream>

#include "fake_remote.hpp"
#include "remote_test_support.hpp"
#include "support/scratch_directory.hpp"

namespace inference::openai::test {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

GenerateConfig short_config() {
  GenerateConfig config;
  config.max_tokens = 4;
  return config;
}

std::string base_url(const FakeRemote& remote, const std::string& host = "127.0.0.1", bool tls = false) {
  return std::string(tls ? "https://" : "http://") + host + ":" + std::to_string(remote.port()) + "/v1";
}

FakeAnswer respond(std::string bytes) { return FakeAnswer(FakeAnswer::Kind::respond, std::move(bytes), false); }
FakeAnswer respond_and_close(std::string bytes) {
  return FakeAnswer(FakeAnswer::Kind::respond, std::move(bytes), true);
}
FakeAnswer ok_answer() { return respond(sse_answer(completion_events({"Hello", " world"}))); }

class OpenAiFakeRemoteTest : public OpenAiPluginTest {};

TEST_F(OpenAiFakeRemoteTest, StreamsEachEventsTextAsATokenWithIdZeroAndTheUsageCounts) {
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{ok_answer()};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}};
    auto model = co_await load(options);
    TokenStream stream = model->generate("Hi", short_config());
    std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first && first->id == 0 && first->text == "Hello");
    Outcome rest = co_await read_all(std::move(stream));
    EXPECT_FALSE(rest.error) << rest.message;
    EXPECT_EQ(rest.text, " world");
    EXPECT_EQ(rest.result.finish_reason, FinishReason::length);
    EXPECT_EQ(rest.result.metrics.prompt_tokens, 3U);
    EXPECT_EQ(rest.result.metrics.generated_tokens, 2U);
    EXPECT_EQ(remote.requests().at(0).target, "/v1/completions");
    co_await model->close();
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, ConsecutiveRequestsReuseOneKeptAliveConnection) {
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{ok_answer()};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}};
    auto model = co_await load(options);
    for (int i = 0; i < 3; ++i) {
      Outcome out = co_await read_all(model->generate("Hi", short_config()));
      EXPECT_FALSE(out.error) << out.message;
    }
    EXPECT_EQ(remote.requests().size(), 3U);
    EXPECT_EQ(remote.connections(), 1U);
    co_await model->close();
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, RetryAfterOf429IsWaitedBeforeTheSecondAttempt) {
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{respond(error_answer(429, "rate_limit_error", "slow down", "Retry-After: 1\r\n")),
                                    ok_answer()};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}, {"retry_backoff_ms", "0"}};
    auto model = co_await load(options);
    Outcome out = co_await read_all(model->generate("Hi", short_config()));
    EXPECT_FALSE(out.error) << out.message;
    EXPECT_EQ(out.text, "Hello world");
    const std::vector<FakeRequest> requests = remote.requests();
    EXPECT_EQ(requests.size(), 2U);
    if (requests.size() == 2) {
      // A lower bound the backend guarantees (it waits at least Retry-After), not a timing guess.
      EXPECT_GE(requests[1].arrived - requests[0].arrived, std::chrono::seconds(1));
    }
    co_await model->close();
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, ARetryAfterBeyondTheCapFailsAtOnceWithOverloaded) {
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{
        respond(error_answer(429, "rate_limit_error", "come back later", "Retry-After: 3600\r\n"))};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}};
    auto model = co_await load(options);
    Outcome out = co_await read_all(model->generate("Hi", short_config()));
    EXPECT_EQ(out.error, errc::overloaded) << out.message;
    EXPECT_NE(out.message.find("come back later"), std::string::npos) << out.message;
    EXPECT_NE(out.message.find("Retry-After: 3600000 ms"), std::string::npos) << out.message;
    EXPECT_EQ(remote.requests().size(), 1U);
    co_await model->close();
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, ServerErrorsAndLostConnectionsBeforeTheFirstTokenAreRetried) {
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{respond(error_answer(503, "server_error", "loading model")), respond_and_close(""),
                                    ok_answer()};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}, {"retry_backoff_ms", "1"}};
    auto model = co_await load(options);
    Outcome out = co_await read_all(model->generate("Hi", short_config()));
    EXPECT_FALSE(out.error) << out.message;
    EXPECT_EQ(out.text, "Hello world");
    EXPECT_EQ(remote.requests().size(), 3U);
    co_await model->close();
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, RetriesStopAtTheBudgetWithTheLastError) {
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{respond(error_answer(502, "server_error", "bad gateway"))};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{
        {"base_url", base_url(remote)}, {"retries", "2"}, {"retry_backoff_ms", "1"}};
    auto model = co_await load(options);
    Outcome out = co_await read_all(model->generate("Hi", short_config()));
    EXPECT_EQ(out.error, errc::backend_unavailable) << out.message;
    EXPECT_NE(out.message.find("bad gateway"), std::string::npos) << out.message;
    EXPECT_EQ(remote.requests().size(), 3U);
    co_await model->close();
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, AServerThatAcceptsButNeverAnswersTimesOutWithoutARetry) {
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{FakeAnswer(FakeAnswer::Kind::hang, "", false)};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}, {"read_timeout_ms", "200"}};
    auto model = co_await load(options);
    Outcome out = co_await read_all(model->generate("Hi", short_config()));
    EXPECT_EQ(out.error, errc::backend_unavailable) << out.message;
    EXPECT_NE(out.message.find("read_timeout_ms=200"), std::string::npos) << out.message;
    EXPECT_EQ(remote.requests().size(), 1U);
    co_await remote.wait_for_disconnects(1);  // the backend closed the connection it gave up on
    co_await model->close();
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, AServerThatDiesMidStreamGivesATypedErrorAfterItsTokens) {
  run_test([&]() -> asio::awaitable<void> {
    std::string events = completion_events({"one", " two", " three"});
    events.resize(events.find("three"));  // cut inside the third event
    std::vector<FakeAnswer> answers{respond_and_close(cut_sse_answer(events))};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}};
    auto model = co_await load(options);
    Outcome out = co_await read_all(model->generate("Hi", short_config()));
    EXPECT_EQ(out.tokens, 2U);
    EXPECT_EQ(out.text, "one two");
    EXPECT_EQ(out.error, errc::backend_unavailable) << out.message;
    EXPECT_NE(out.message.find("lost in the middle of the stream"), std::string::npos) << out.message;
    EXPECT_EQ(out.result.finish_reason, FinishReason::error);
    EXPECT_EQ(remote.requests().size(), 1U) << "a stream that delivered tokens must not be retried";
    co_await model->close();
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, ABadApiKeyIsRefusedWithTheServersMessageAndNotRetried) {
  const inference::test::ScratchDirectory directory("openai-key");
  const std::string key_file = (directory / "key").string();
  { std::ofstream(key_file) << "sk-wrong-key\n"; }
  ::chmod(key_file.c_str(), 0600);
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{respond(error_answer(401, "authentication_error", "Invalid API Key"))};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}, {"api_key_file", key_file}};
    auto model = co_await load(options);
    Outcome out = co_await read_all(model->generate("Hi", short_config()));
    EXPECT_EQ(out.error, errc::backend_unavailable) << out.message;
    EXPECT_NE(out.message.find("Invalid API Key"), std::string::npos) << out.message;
    EXPECT_NE(out.message.find("API key was refused"), std::string::npos) << out.message;
    EXPECT_EQ(out.message.find("sk-wrong-key"), std::string::npos) << "the key leaked into " << out.message;
    EXPECT_EQ(remote.requests().size(), 1U);
    EXPECT_EQ(remote.requests().at(0).authorization, "Bearer sk-wrong-key");
    co_await model->close();
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, AnUnknownModelIsModelNotFound) {
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{respond(error_answer(404, "invalid_request_error", "model 'x' does not exist"))};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}};
    auto model = co_await load(options);
    std::vector<Message> messages{{"user", "hi"}};
    Outcome out = co_await read_all(model->chat(std::move(messages), short_config()));
    EXPECT_EQ(out.error, errc::model_not_found) << out.message;
    EXPECT_NE(out.message.find("does not exist"), std::string::npos) << out.message;
    EXPECT_EQ(remote.requests().at(0).target, "/v1/chat/completions");
    co_await model->close();
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, AnEndlessSseLineIsAProtocolErrorNotUnboundedMemory) {
  run_test([&]() -> asio::awaitable<void> {
    const std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
    std::vector<FakeAnswer> answers{FakeAnswer(FakeAnswer::Kind::endless_line, head, false)};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}};
    auto model = co_await load(options);
    Outcome out = co_await read_all(model->generate("Hi", short_config()));
    EXPECT_EQ(out.error, errc::protocol_error) << out.message;
    EXPECT_NE(out.message.find("SSE line longer than"), std::string::npos) << out.message;
    EXPECT_EQ(remote.requests().size(), 1U);
    co_await remote.wait_for_disconnects(1);
    co_await model->close();
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, CancellingAStreamClosesItsConnection) {
  run_test([&]() -> asio::awaitable<void> {
    // One token, then nothing: the stream stays open until the client leaves.
    std::vector<FakeAnswer> answers{respond(cut_sse_answer(R"(data: {"choices":[{"text":"first"}]})"
                                                           "\n\n"))};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}};
    auto model = co_await load(options);
    TokenStream stream = model->generate("Hi", short_config());
    std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first && first->text == "first");
    stream.cancel();
    co_await remote.wait_for_disconnects(1);
    EXPECT_EQ(remote.disconnects(), 1U);
    co_await model->close();
    EXPECT_EQ(model->stats().slots_busy, 0U);
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, CloseEndsARunningStreamWithClosed) {
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{respond(cut_sse_answer(R"(data: {"choices":[{"text":"first"}]})"
                                                           "\n\n"))};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}};
    auto model = co_await load(options);
    TokenStream stream = model->generate("Hi", short_config());
    std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first.has_value());
    co_await model->close();
    Outcome out = co_await read_all(std::move(stream));
    EXPECT_EQ(out.error, errc::closed) << out.message;
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, CloseEndsARequestWaitingToRetryAndWaitsForIt) {
  run_test([&]() -> asio::awaitable<void> {
    // Retry-After 9 s: within max_retry_delay_ms, and longer than close()'s own bound (kCloseGrace).
    std::vector<FakeAnswer> answers{respond(error_answer(429, "rate_limit_error", "later", "Retry-After: 9\r\n"))};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}};
    auto model = co_await load(options);
    TokenStream stream = model->generate("Hi", short_config());
    co_await remote.wait_for_disconnects(1);  // the 429 was read and its connection closed: now it waits
    co_await model->close();
    EXPECT_EQ(model->stats().slots_busy, 0U) << "close() returned while a request still waited to retry";
    Outcome out = co_await read_all(std::move(stream));
    EXPECT_EQ(out.error, errc::closed) << out.message;
    EXPECT_EQ(remote.requests().size(), 1U);
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, ADeadlineCoversTheWaitForASlot) {
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{FakeAnswer(FakeAnswer::Kind::hang, "", false)};
    FakeRemote remote(co_await asio::this_coro::executor, answers);
    std::map<std::string, std::string> options{{"base_url", base_url(remote)}, {"max_in_flight", "1"}};
    auto model = co_await load(options);
    TokenStream holder = model->generate("Hi", short_config());  // takes the only slot; never answered
    GenerateConfig config = short_config();
    config.timeout = milliseconds(200);
    Outcome queued = co_await read_all(model->generate("Hi", config));
    EXPECT_EQ(queued.error, errc::deadline_exceeded) << queued.message;
    EXPECT_LE(remote.requests().size(), 1U) << "the queued request was sent anyway";
    holder.cancel();
    co_await model->close();
    remote.stop();
  });
}

TEST_F(OpenAiFakeRemoteTest, NobodyListeningIsBackendUnavailableAfterTheRetries) {
  run_test([&]() -> asio::awaitable<void> {
    std::uint16_t port = 0;
    {
      std::vector<FakeAnswer> none{ok_answer()};
      FakeRemote closed(co_await asio::this_coro::executor, none);
      port = closed.port();
      closed.stop();  // the port is free again: connecting is refused
    }
    std::map<std::string, std::string> options{
        {"base_url", "http://127.0.0.1:" + std::to_string(port) + "/v1"}, {"retries", "2"}, {"retry_backoff_ms", "1"}};
    auto model = co_await load(options);
    Outcome out = co_await read_all(model->generate("Hi", short_config()));
    EXPECT_EQ(out.error, errc::backend_unavailable) << out.message;
    EXPECT_NE(out.message.find("cannot connect"), std::string::npos) << out.message;
    co_await model->close();
  });
}

class OpenAiTlsTest : public OpenAiFakeRemoteTest {
 protected:
  void SetUp() override {
    OpenAiFakeRemoteTest::SetUp();
    files_ = make_self_signed_certificate(directory_.path(), "localhost");
  }

  inference::test::ScratchDirectory directory_{"openai-tls"};
  TlsFiles files_;
};

TEST_F(OpenAiTlsTest, ASelfSignedCertificateIsRefusedWithoutCaFileAndAcceptedWithIt) {
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{ok_answer()};
    FakeRemote remote(co_await asio::this_coro::executor, answers, files_);
    std::map<std::string, std::string> untrusted{{"base_url", base_url(remote, "localhost", true)}};
    auto refused = co_await load(untrusted);
    Outcome out = co_await read_all(refused->generate("Hi", short_config()));
    EXPECT_EQ(out.error, errc::backend_unavailable) << out.message;
    EXPECT_NE(out.message.find("certificate was refused"), std::string::npos) << out.message;
    EXPECT_NE(out.message.find("ca_file"), std::string::npos) << out.message;
    EXPECT_TRUE(remote.requests().empty()) << "a request went to an unverified server";
    co_await refused->close();

    std::map<std::string, std::string> trusted{{"base_url", base_url(remote, "localhost", true)},
                                               {"ca_file", files_.certificate.string()}};
    auto accepted = co_await load(trusted);
    Outcome ok = co_await read_all(accepted->generate("Hi", short_config()));
    EXPECT_FALSE(ok.error) << ok.message;
    EXPECT_EQ(ok.text, "Hello world");
    co_await accepted->close();
    remote.stop();
  });
}

TEST_F(OpenAiTlsTest, ConsecutiveRequestsReuseOneTlsConnection) {
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{ok_answer()};
    FakeRemote remote(co_await asio::this_coro::executor, answers, files_);
    std::map<std::string, std::string> options{{"base_url", base_url(remote, "localhost", true)},
                                               {"ca_file", files_.certificate.string()}};
    auto model = co_await load(options);
    for (int i = 0; i < 3; ++i) {
      Outcome out = co_await read_all(model->generate("Hi", short_config()));
      EXPECT_FALSE(out.error) << out.message;
    }
    EXPECT_EQ(remote.requests().size(), 3U);
    EXPECT_EQ(remote.connections(), 1U) << "each TLS handshake costs round trips; keep-alive should spare them";
    co_await model->close();
    remote.stop();
  });
}

TEST_F(OpenAiTlsTest, ACertificateForAnotherNameIsRefusedEvenWithCaFile) {
  run_test([&]() -> asio::awaitable<void> {
    std::vector<FakeAnswer> answers{ok_answer()};
    FakeRemote remote(co_await asio::this_coro::executor, answers, files_);
    // The certificate names localhost only; 127.0.0.1 is the same server under another name.
    std::map<std::string, std::string> options{{"base_url", base_url(remote, "127.0.0.1", true)},
                                               {"ca_file", files_.certificate.string()}};
    auto model = co_await load(options);
    Outcome out = co_await read_all(model->generate("Hi", short_config()));
    EXPECT_EQ(out.error, errc::backend_unavailable) << out.message;
    EXPECT_NE(out.message.find("mismatch"), std::string::npos) << out.message;
    EXPECT_TRUE(remote.requests().empty());
    co_await model->close();
    remote.stop();
  });
}

}  // namespace
}  // namespace inference::openai::test
