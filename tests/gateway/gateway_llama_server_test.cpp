// The gateway in front of the real llama-server (llama_cpp backend, the shared tiny model): both
// endpoints streamed and whole with the server's own token counts, admission under a full
// queue, a client that hangs up freeing the server's slot (asked of llama-server's /slots), the
// request deadline, refusals that leave the server serving, and idle unload stopping the server.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <string>

#include "gateway_harness.hpp"
#include "soak/server_slots_probe.hpp"
#include "support/child_processes.hpp"
#include "support/run_async.hpp"
#include "support/test_inputs.hpp"

namespace inference::test {
namespace {

namespace json = boost::json;
constexpr std::string_view kModel = "llama-2-tiny-random";

class GatewayLlamaServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto reason = llama_server_skip_reason()) GTEST_SKIP() << *reason;
    ::setenv("LLAMA_SERVER_PATH", llama_server_for_tests().c_str(), 1);
  }

  static gateway::GatewayOptions options(uint32_t slots = 4, uint32_t queue_limit = 64) {
    gateway::GatewayOptions options;
    options.models = {{std::string(kModel), tiny_model_for_tests().string()}};
    options.backend = "llama_cpp";
    options.load.parallel_slots = slots;
    options.load.queue_limit = queue_limit;
    options.load.context_len = 256;
    // Every generation runs to max_tokens, so token counts are exact.
    options.load.backend_options["ignore_eos"] = "1";
    return options;
  }

  static json::object completion(int max_tokens, bool stream) {
    return {{"model", kModel},
            {"prompt", "The capital of France is"},
            {"max_tokens", max_tokens},
            {"stream", stream},
            {"temperature", 0}};
  }
  static json::object chat(int max_tokens, bool stream) {
    return {{"model", kModel},
            {"messages", json::array{json::object{{"role", "system"}, {"content", "Be brief."}},
                                     json::object{{"role", "user"}, {"content", "Name a colour."}}}},
            {"max_tokens", max_tokens},
            {"stream", stream},
            {"temperature", 0}};
  }
};

std::string metric(std::string_view name, std::string_view labels) {
  return std::string(name) + "{" + std::string(labels) + "}";
}

TEST_F(GatewayLlamaServerTest, WholeAnswersCarryTheServersTokenCounts) {
  RunningGateway server(options());
  const auto prompt_metric = metric("inference_prompt_tokens_total", R"(model="llama-2-tiny-random")");
  for (const auto& [target, body] :
       {std::pair{"/v1/completions", completion(8, false)}, std::pair{"/v1/chat/completions", chat(8, false)}}) {
    const double prompt_before = metric_value(server.port(), prompt_metric).value_or(0);
    const auto answer = post_json(server.port(), target, body);
    ASSERT_EQ(answer.status, 200u) << answer.body;
    const auto usage = answer.json().at("usage");
    EXPECT_EQ(usage.at("completion_tokens").as_int64(), 8) << target;
    EXPECT_GT(usage.at("prompt_tokens").as_int64(), 0) << target;
    EXPECT_EQ(usage.at("total_tokens").as_int64(),
              usage.at("prompt_tokens").as_int64() + usage.at("completion_tokens").as_int64());
    // usage is the runtime's own count, the one /metrics adds up.
    EXPECT_EQ(metric_value(server.port(), prompt_metric).value_or(0) - prompt_before,
              static_cast<double>(usage.at("prompt_tokens").as_int64()))
        << target;
  }
}

TEST_F(GatewayLlamaServerTest, StreamsHaveOneChunkPerTokenAndUsageMatchingThem) {
  RunningGateway server(options());
  for (const auto& [target, body] :
       {std::pair{"/v1/completions", completion(12, true)}, std::pair{"/v1/chat/completions", chat(12, true)}}) {
    auto request = body;
    request["stream_options"] = json::object{{"include_usage", true}};
    SseClient stream(server.port(), target, request);
    ASSERT_EQ(stream.status(), 200u) << stream.error_body();
    int token_chunks = 0;
    json::value usage;
    for (const auto& event : stream.rest()) {
      if (event == "[DONE]") break;
      const auto chunk = json::parse(event);
      if (chunk.at("choices").as_array().empty()) {
        usage = chunk.at("usage");
        continue;
      }
      const auto& choice = chunk.at("choices").at(0).as_object();
      const bool is_role = choice.contains("delta") && choice.at("delta").as_object().contains("role");
      if (choice.at("finish_reason").is_null() && !is_role) ++token_chunks;
    }
    EXPECT_EQ(token_chunks, 12) << target;
    ASSERT_TRUE(usage.is_object()) << target << ": no usage chunk";
    EXPECT_EQ(usage.at("completion_tokens").as_int64(), 12) << target;
  }
}

TEST_F(GatewayLlamaServerTest, AFullQueueIsRefusedWith429WhileTheSlotIsBusy) {
  RunningGateway server(options(1, 0));
  SseClient holder(server.port(), "/v1/completions", completion(30000, true));
  ASSERT_EQ(holder.status(), 200u) << holder.error_body();
  ASSERT_TRUE(holder.next_event());
  const auto refused = post_json(server.port(), "/v1/completions", completion(1, false));
  EXPECT_EQ(refused.status, 429u) << refused.body;
  EXPECT_FALSE(refused.header("retry-after").empty());
  holder.hang_up();
}

TEST_F(GatewayLlamaServerTest, AClientThatHangsUpFreesTheServersSlot) {
  RunningGateway server(options());
  const auto pid = wait_for_llama_server_child(std::chrono::seconds(10));
  ASSERT_TRUE(pid) << "no llama-server child found";
  const auto address = soak::server_address_of(*pid);
  ASSERT_TRUE(address) << "cannot read the server's address from /proc";
  const auto processing = [&] {
    return testing::run_async(
        [&]() -> boost::asio::awaitable<uint32_t> { co_return (co_await soak::query_slots(*address)).processing; });
  };

  SseClient stream(server.port(), "/v1/completions", completion(30000, true));
  ASSERT_EQ(stream.status(), 200u) << stream.error_body();
  ASSERT_TRUE(stream.next_event());
  ASSERT_EQ(processing(), 1u) << "the generation is not running on the server";

  const auto hung_up = std::chrono::steady_clock::now();
  stream.hang_up();
  ASSERT_TRUE(eventually([&] { return processing() == 0; }, std::chrono::seconds(10)))
      << "llama-server still generates for a client that left";
  const auto freed = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - hung_up);
  // A figure for docs/performance.md, not a pass/fail threshold.
  std::printf("slot free on llama-server %.1f ms after the client hung up (observed by polling /slots)\n",
              freed.count());
  RecordProperty("slot_freed_ms", std::to_string(freed.count()));
}

TEST_F(GatewayLlamaServerTest, RequestTimeoutEndsALongGenerationWith504) {
  auto settings = options();
  settings.load.context_len = 2048;
  RunningGateway server(settings);
  const auto answer =
      post_json(server.port(), "/v1/completions", completion(2000, false), {{"X-Request-Timeout", "0.05"}});
  EXPECT_EQ(answer.status, 504u) << answer.body;
  EXPECT_EQ(answer.json().at("error").at("code").as_string(), "deadline_exceeded");
  EXPECT_EQ(post_json(server.port(), "/v1/completions", completion(2, false)).status, 200u);
}

TEST_F(GatewayLlamaServerTest, RequestTimeoutCoversLoadingTheModel) {
  auto settings = options();
  settings.pool.idle_unload = std::chrono::seconds(60);  // loaded by the first request
  RunningGateway server(settings);
  // Starting llama-server and loading the model takes far longer than a millisecond.
  const auto answer =
      post_json(server.port(), "/v1/completions", completion(2, false), {{"X-Request-Timeout", "0.001"}});
  EXPECT_EQ(answer.status, 504u) << answer.body;
  EXPECT_NE(answer.body.find("being loaded"), std::string::npos) << answer.body;
  EXPECT_EQ(post_json(server.port(), "/v1/completions", completion(2, false)).status, 200u);
}

TEST_F(GatewayLlamaServerTest, RefusesBadKeysBadBodiesAndUnknownModelsAndKeepsServing) {
  auto settings = options();
  settings.api_key = "k3y";
  settings.limits.max_body_bytes = 2048;
  RunningGateway server(settings);
  const std::map<std::string, std::string> key{{"Authorization", "Bearer k3y"}};
  EXPECT_EQ(post_json(server.port(), "/v1/completions", completion(2, false)).status, 401u);
  EXPECT_EQ(post_json(server.port(), "/v1/completions", completion(2, false), {{"Authorization", "Bearer k3"}}).status,
            401u);
  EXPECT_EQ(http_request(server.port(), "POST", "/v1/completions", std::string(4096, '{'), key).status, 413u);
  EXPECT_EQ(
      http_request(server.port(), "POST", "/v1/completions", R"({"model": "llama-2-tiny-random", "prompt": )", key)
          .status,
      400u);
  auto unknown = completion(2, false);
  unknown["model"] = "llama-3-405b";
  EXPECT_EQ(post_json(server.port(), "/v1/completions", unknown, key).status, 404u);
  const auto answer = post_json(server.port(), "/v1/completions", completion(2, false), key);
  EXPECT_EQ(answer.status, 200u) << answer.body;
}

TEST_F(GatewayLlamaServerTest, AnIdleModelsServerStopsAndStartsAgainOnTheNextRequest) {
  auto settings = options();
  settings.pool.idle_unload = std::chrono::seconds(1);
  RunningGateway server(settings);
  EXPECT_TRUE(llama_server_children().empty()) << "loaded before its first request";
  EXPECT_EQ(post_json(server.port(), "/v1/completions", completion(2, false)).status, 200u);
  EXPECT_EQ(llama_server_children().size(), 1u);
  EXPECT_TRUE(eventually([] { return llama_server_children().empty(); }, std::chrono::seconds(20)))
      << "the idle model's llama-server is still running";
  EXPECT_EQ(post_json(server.port(), "/v1/completions", completion(2, false)).status, 200u);
  EXPECT_EQ(llama_server_children().size(), 1u);
}

}  // namespace
}  // namespace inference::test
