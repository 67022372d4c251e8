// The openai backend against `llmctl serve` (this project's own gateway, in front of the real
// llama-server), and `llmctl serve` fronting the openai backend, so gateways chain: streaming,
// chat, a cancel that frees the gateway's slot (its /metrics), the gateway's 429 with Retry-After
// retried and then reported, and the same greedy text through one gateway and through two.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <fstream>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/server_endpoint.hpp"
#include "remote_test_support.hpp"
#include "support/child_processes.hpp"
#include "support/scratch_directory.hpp"
#include "support/test_inputs.hpp"
#include "tools/llmctl_process.hpp"

namespace inference::openai::test {
namespace {

namespace asio = boost::asio;
using llmctl_test::LlmctlProcess;

// The served model's name: the model file's stem.
constexpr const char* kServedModel = "llama-2-tiny-random";
constexpr int kLongGeneration = 4000;  // most of the tiny model's 4096-token training context
constexpr int kLongContext = 4096;
constexpr std::chrono::seconds kStartBound{90};
// How long the gateway may take to let go of a cancelled request's slot.
constexpr std::chrono::seconds kSlotReleaseBound{10};
constexpr std::chrono::milliseconds kPollInterval{20};

// Waits until the gateway prints its address and returns the port; nullopt when it never does.
// (Its stdout is a file: there is no event to wait on but the bytes appearing.)
std::optional<std::uint16_t> listening_port(const LlmctlProcess& serve) {
  const std::regex listening(R"(listening on http://127\.0\.0\.1:(\d+)\n)");
  const auto until = std::chrono::steady_clock::now() + kStartBound;
  while (std::chrono::steady_clock::now() < until) {
    std::smatch match;
    const std::string output = serve.output_so_far();
    if (std::regex_search(output, match, listening)) return static_cast<std::uint16_t>(std::stoi(match[1]));
    std::this_thread::sleep_for(kPollInterval);
  }
  return std::nullopt;
}

// The value of one Prometheus series, e.g. series "inference_slots_busy{model=\"x\"}"; -1 if absent.
double metric(const std::string& text, const std::string& series) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(series + " ")) return std::stod(line.substr(series.size() + 1));
  }
  return -1;
}

class OpenAiServeTest : public OpenAiPluginTest {
 protected:
  void SetUp() override {
    if (auto reason = inference::test::llama_server_skip_reason()) GTEST_SKIP() << *reason;
    OpenAiPluginTest::SetUp();
    ::setenv("LLAMA_SERVER_PATH", inference::test::llama_server_for_tests().c_str(), 1);
    key_file_ = (directory_ / "key").string();
    std::ofstream(key_file_) << "serve-test-key\n";
    ::chmod(key_file_.c_str(), 0600);
    // One slot and no queue: a second request while one runs is the gateway's 429.
    gateway_.emplace(std::vector<std::string>{
        "serve", "--plugin-dir", llmctl_test::plugin_dir().string(), "--backend", "llama_cpp", "--model",
        inference::test::tiny_model_for_tests().string(), "--port", "0", "--slots", "1", "--queue-limit", "0", "--ctx",
        std::to_string(kLongContext), "--opt", "ignore_eos=1", "--api-key-file", key_file_});
    port_ = listening_port(*gateway_);
    ASSERT_TRUE(port_) << "llmctl serve never said it was listening: " << gateway_->output_so_far();
  }

  std::map<std::string, std::string> options(std::uint16_t port) const {
    return {{"base_url", "http://127.0.0.1:" + std::to_string(port) + "/v1"}, {"api_key_file", key_file_}};
  }

  asio::awaitable<std::string> metrics() {
    llama_server::HttpConnection probe(co_await asio::this_coro::executor,
                                       llama_server::ServerEndpoint::tcp(*port_, "serve-test-key"));
    const llama_server::HttpResponse response = co_await probe.request(llama_server::HttpMethod::get, "/metrics");
    co_return response.body;
  }

  asio::awaitable<double> slots_busy() {
    co_return metric(co_await metrics(), std::string("inference_slots_busy{model=\"") + kServedModel + "\"}");
  }

  // True once the gateway's slot is free, false when kSlotReleaseBound passes first.
  asio::awaitable<bool> slot_freed_within_bound() {
    asio::steady_timer timer(co_await asio::this_coro::executor);
    const auto until = std::chrono::steady_clock::now() + kSlotReleaseBound;
    while (std::chrono::steady_clock::now() < until) {
      if (co_await slots_busy() == 0) co_return true;
      timer.expires_after(kPollInterval);
      co_await timer.async_wait(asio::use_awaitable);
    }
    co_return false;
  }

  inference::test::ScratchDirectory directory_{"openai-serve"};
  std::string key_file_;
  std::optional<LlmctlProcess> gateway_;
  std::optional<std::uint16_t> port_;
};

GenerateConfig greedy(int count) {
  GenerateConfig config;
  config.max_tokens = count;
  config.temperature = 0.0F;
  return config;
}

TEST_F(OpenAiServeTest, GenerateAndChatStreamThroughLlmctlServe) {
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await load(options(*port_), kServedModel);
    Outcome out = co_await read_all(model->generate("Once upon a time", greedy(8)));
    EXPECT_FALSE(out.error) << out.message;
    EXPECT_EQ(out.tokens, 8U);
    EXPECT_EQ(out.result.finish_reason, FinishReason::length);
    EXPECT_EQ(out.result.metrics.generated_tokens, 8U);
    EXPECT_GT(out.result.metrics.prompt_tokens, 0U);
    std::vector<Message> messages{{"system", "Be brief."}, {"user", "Hello"}};
    Outcome chat = co_await read_all(model->chat(std::move(messages), greedy(6)));
    EXPECT_FALSE(chat.error) << chat.message;
    EXPECT_EQ(chat.result.metrics.generated_tokens, 6U);
    co_await model->close();
  });
}

TEST_F(OpenAiServeTest, CancellingAStreamFreesTheGatewaysSlot) {
  run_test([&]() -> asio::awaitable<void> {
    auto model = co_await load(options(*port_), kServedModel);
    TokenStream stream = model->generate("Once upon a time", greedy(kLongGeneration));
    EXPECT_TRUE((co_await stream.next()).has_value());
    EXPECT_EQ(co_await slots_busy(), 1) << "the gateway's slot should be generating the long request";
    stream.cancel();
    EXPECT_TRUE(co_await slot_freed_within_bound()) << "llmctl serve kept the slot after the cancel";
    co_await model->close();
  });
}

// The gateway answers 429 with "Retry-After: 1" while its one slot is busy: the backend waits
// that second before each retry, and after the last reports overloaded with the gateway's message.
// The slot stays busy because the gateway's llama-server is stopped (SIGSTOP) under the first
// request: a running one could finish (its tokens fit in the sockets' buffers) before the retries.
TEST_F(OpenAiServeTest, TheGateways429IsRetriedAfterItsRetryAfterThenReportedAsOverloaded) {
  const std::vector<inference::test::ChildProcess> servers = inference::test::llama_server_children_of(gateway_->pid());
  ASSERT_EQ(servers.size(), 1U) << "expected one llama-server under llmctl serve";
  const pid_t server = servers.front().pid;
  run_test([&]() -> asio::awaitable<void> {
    auto holder = co_await load(options(*port_), kServedModel);
    TokenStream busy = holder->generate("Once upon a time", greedy(kLongGeneration));
    EXPECT_TRUE((co_await busy.next()).has_value());
    ::kill(server, SIGSTOP);
    std::map<std::string, std::string> retrying = options(*port_);
    retrying["retries"] = "2";
    retrying["max_retry_delay_ms"] = "5000";
    auto model = co_await load(retrying, kServedModel);
    const auto started = std::chrono::steady_clock::now();
    Outcome out = co_await read_all(model->generate("Hello", greedy(4)));
    const auto waited = std::chrono::steady_clock::now() - started;
    EXPECT_EQ(out.error, errc::overloaded) << out.message;
    EXPECT_NE(out.message.find("429"), std::string::npos) << out.message;
    // Two Retry-After waits of one second each: a lower bound, which no scheduler can undercut.
    EXPECT_GE(waited, std::chrono::seconds(2)) << "the retries did not wait for Retry-After";
    EXPECT_EQ(metric(co_await metrics(), "inference_http_responses_total{code=\"429\"}"), 3)
        << "the first attempt and two retries";
    ::kill(server, SIGCONT);
    busy.cancel();
    co_await model->close();
    co_await holder->close();
  });
}

// llmctl serve with the openai backend in front of the first gateway: a host -> gateway -> gateway
// -> llama-server chain streams the same greedy text as the first gateway alone.
TEST_F(OpenAiServeTest, AGatewayFrontingTheOpenAiBackendChainsToTheSameTokens) {
  ::setenv("OPENAI_SERVE_TEST_KEY", "serve-test-key", 1);
  LlmctlProcess front({"serve", "--plugin-dir", llmctl_test::plugin_dir().string(), "--backend", "openai", "--opt",
                       "base_url=http://127.0.0.1:" + std::to_string(*port_) + "/v1", "--opt",
                       "api_key_env=OPENAI_SERVE_TEST_KEY", "--alias", std::string("tiny=") + kServedModel, "--port",
                       "0"});
  const std::optional<std::uint16_t> front_port = listening_port(front);
  ASSERT_TRUE(front_port) << "the fronting llmctl serve never said it was listening: " << front.output_so_far();
  const std::map<std::string, std::string> front_options{
      {"base_url", "http://127.0.0.1:" + std::to_string(*front_port) + "/v1"}};
  run_test([&]() -> asio::awaitable<void> {
    auto direct = co_await load(options(*port_), kServedModel);
    Outcome one_hop = co_await read_all(direct->generate("Once upon a time", greedy(8)));
    co_await direct->close();
    auto chained = co_await load(front_options, "tiny");
    Outcome two_hops = co_await read_all(chained->generate("Once upon a time", greedy(8)));
    EXPECT_FALSE(two_hops.error) << two_hops.message;
    EXPECT_EQ(two_hops.tokens, 8U);
    EXPECT_EQ(two_hops.text, one_hop.text);
    co_await chained->close();
  });
  ::unsetenv("OPENAI_SERVE_TEST_KEY");
}

}  // namespace
}  // namespace inference::openai::test
