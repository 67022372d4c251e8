// The openai backend through its plugin against the real llama-server's own OpenAI endpoint (a
// server nobody here wrote): streaming, chat, cancellation and deadlines that free the remote
// slot (checked on the server's /slots), and a wrong key.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <fstream>

#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/server_slots.hpp"
#include "remote_test_support.hpp"
#include "support/scratch_directory.hpp"
#include "support/test_server.hpp"

namespace inference::openai::test {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using llama_server::test::TestServer;
using llama_server::test::TestServerOptions;

// Far more tokens than the test ever waits for: a request that is not stopped keeps the slot busy
// for many seconds, so an idle slot soon after the cancel shows the cancel stopped it.
constexpr int kLongGeneration = 16000;
constexpr int kLongContext = 16384;
// How long the server may take to notice a closed connection and let go of the slot; /slots is
// polled because llama-server offers no event for it (as the engine itself does).
constexpr std::chrono::seconds kSlotReleaseBound{5};
constexpr std::chrono::milliseconds kSlotPollInterval{20};

class OpenAiLlamaServerTest : public OpenAiPluginTest {
 protected:
  void SetUp() override {
    if (auto reason = TestServer::skip_reason()) GTEST_SKIP() << *reason;
    OpenAiPluginTest::SetUp();
    TestServerOptions options;
    options.use_tcp = true;
    options.parallel_slots = 1;
    options.context_size = kLongContext;
    server_.emplace(options);
    run_test([&]() -> asio::awaitable<void> { co_await server_->wait_ready(); });
    key_file_ = (directory_ / "key").string();
    write_key(server_->endpoint().api_key());
  }

  void write_key(const std::string& key) const {
    std::ofstream(key_file_) << key << "\n";
    ::chmod(key_file_.c_str(), 0600);
  }

  std::map<std::string, std::string> options() const {
    return {{"base_url", "http://127.0.0.1:" + std::to_string(server_->endpoint().port()) + "/v1"},
            {"api_key_file", key_file_},
            {"ignore_eos", "1"}};
  }

  // True once no slot of the server is processing, false when kSlotReleaseBound passes first.
  asio::awaitable<bool> slots_idle_within_bound() {
    llama_server::HttpConnection probe(co_await asio::this_coro::executor, server_->endpoint());
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto until = std::chrono::steady_clock::now() + kSlotReleaseBound;
    while (std::chrono::steady_clock::now() < until) {
      const llama_server::HttpResponse response = co_await probe.request(llama_server::HttpMethod::get, "/slots");
      bool busy = false;
      for (const llama_server::ServerSlot& slot : llama_server::parse_server_slots(response.body)) {
        busy = busy || slot.is_processing;
      }
      if (!busy) co_return true;
      timer.expires_after(kSlotPollInterval);
      co_await timer.async_wait(asio::use_awaitable);
    }
    co_return false;
  }

  asio::awaitable<bool> slot_busy() {
    llama_server::HttpConnection probe(co_await asio::this_coro::executor, server_->endpoint());
    const llama_server::HttpResponse response = co_await probe.request(llama_server::HttpMethod::get, "/slots");
    co_return llama_server::is_slot_processing(response.body, 0);
  }

  inference::test::ScratchDirectory directory_{"openai-llama"};
  std::string key_file_;
  std::optional<TestServer> server_;
};

GenerateConfig tokens(int count) {
  GenerateConfig config;
  config.max_tokens = count;
  config.temperature = 0.0F;
  return config;
}

TEST_F(OpenAiLlamaServerTest, GenerateStreamsTheServersTokensWithItsUsage) {
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await load(options());
    Outcome out = co_await read_all(model->generate("Once upon a time", tokens(8)));
    EXPECT_FALSE(out.error) << out.message;
    EXPECT_GT(out.tokens, 0U);
    EXPECT_FALSE(out.text.empty());
    EXPECT_EQ(out.result.finish_reason, FinishReason::length);
    EXPECT_EQ(out.result.metrics.generated_tokens, 8U);
    EXPECT_EQ(out.tokens, 8U) << "one Token per generated token, as from the local engine";
    EXPECT_GT(out.result.metrics.prompt_tokens, 0U);
    EXPECT_GT(out.result.metrics.decode_tokens_per_s, 0.0);  // llama-server's timings extension
    co_await model->close();
  });
}

TEST_F(OpenAiLlamaServerTest, ProtocolLlamaServerStreamsTheServersOwnTokenIdsAndTheSameText) {
  run_test([&]() -> asio::awaitable<void> {
    auto openai = co_await load(options());
    Outcome text_only = co_await read_all(openai->generate("Once upon a time", tokens(8)));
    co_await openai->close();
    std::map<std::string, std::string> native = options();
    native["protocol"] = "llama-server";
    auto model = co_await load(native);
    Outcome out = co_await read_all(model->generate("Once upon a time", tokens(8)));
    EXPECT_FALSE(out.error) << out.message;
    EXPECT_EQ(out.tokens, 8U);
    EXPECT_EQ(out.text, text_only.text) << "greedy: both endpoints generate the same tokens";
    EXPECT_EQ(out.result.finish_reason, FinishReason::length);
    EXPECT_EQ(out.result.metrics.generated_tokens, 8U);
    EXPECT_GT(out.result.metrics.decode_tokens_per_s, 0.0);
    // The ids are the server's: its own /detokenize turns them back into the streamed text.
    json::array ids;
    for (std::int32_t id : out.ids) ids.emplace_back(id);
    llama_server::HttpConnection probe(co_await asio::this_coro::executor, server_->endpoint());
    json::object request;
    request["tokens"] = std::move(ids);
    const std::string body = json::serialize(request);
    const llama_server::HttpResponse response =
        co_await probe.request(llama_server::HttpMethod::post, "/detokenize", body);
    EXPECT_EQ(json::parse(response.body).at("content").as_string(), out.text);
    EXPECT_EQ(std::count(out.ids.begin(), out.ids.end(), 0), 0) << "no id left at the OpenAI path's 0";
    co_await model->close();
  });
}

TEST_F(OpenAiLlamaServerTest, ChatStreamsTheReplyThroughTheServersTemplate) {
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await load(options());
    std::vector<Message> messages{{"system", "Be brief."}, {"user", "Hello"}};
    Outcome out = co_await read_all(model->chat(std::move(messages), tokens(6)));
    EXPECT_FALSE(out.error) << out.message;
    EXPECT_GT(out.tokens, 0U);
    EXPECT_EQ(out.result.metrics.generated_tokens, 6U);
    EXPECT_GT(out.result.metrics.prompt_tokens, 2U) << "the template adds to the two messages";
    co_await model->close();
  });
}

TEST_F(OpenAiLlamaServerTest, CancellingAStreamFreesTheRemoteSlot) {
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await load(options());
    TokenStream stream = model->generate("Once upon a time", tokens(kLongGeneration));
    std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first.has_value());
    const bool busy = co_await slot_busy();
    EXPECT_TRUE(busy) << "the slot should be generating the long request";
    stream.cancel();
    const bool idle = co_await slots_idle_within_bound();
    EXPECT_TRUE(idle) << "llama-server kept generating after the stream was cancelled";
    co_await model->close();
  });
}

TEST_F(OpenAiLlamaServerTest, ADeadlineEndsTheStreamWithDeadlineExceededAndFreesTheSlot) {
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await load(options());
    GenerateConfig config = tokens(kLongGeneration);
    config.timeout = std::chrono::milliseconds(500);
    Outcome out = co_await read_all(model->generate("Once upon a time", config));
    EXPECT_EQ(out.error, errc::deadline_exceeded) << out.message;
    EXPECT_EQ(out.result.finish_reason, FinishReason::error);
    const bool idle = co_await slots_idle_within_bound();
    EXPECT_TRUE(idle) << "llama-server kept generating after the deadline";
    co_await model->close();
  });
}

TEST_F(OpenAiLlamaServerTest, AWrongKeyIsRefusedWithTheServersOwnMessage) {
  write_key("not-the-key");
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await load(options());
    Outcome out = co_await read_all(model->generate("Hello", tokens(4)));
    EXPECT_EQ(out.error, errc::backend_unavailable) << out.message;
    EXPECT_NE(out.message.find("Invalid API Key"), std::string::npos) << out.message;
    EXPECT_EQ(out.message.find("not-the-key"), std::string::npos) << out.message;
    co_await model->close();
  });
}

}  // namespace
}  // namespace inference::openai::test
