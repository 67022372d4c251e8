// The gateway's HTTP behaviour on the stub backend (deterministic, no server): endpoints and
// shapes, the bounds on what a client may send, authentication, CORS, admission (429), deadlines,
// disconnects and the graceful shutdown. The same behaviours against the real llama-server are in
// gateway_llama_server_test.cpp.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>

#include "gateway_harness.hpp"

namespace inference::test {
namespace {

namespace json = boost::json;

json::object chat_body(int max_tokens, bool stream = false) {
  return {{"model", "stub"},
          {"messages", json::array{json::object{{"role", "user"}, {"content", "Hello"}}}},
          {"max_tokens", max_tokens},
          {"stream", stream}};
}

json::object completion_body(int max_tokens, bool stream = false) {
  return {{"model", "stub"}, {"prompt", "Once upon a time"}, {"max_tokens", max_tokens}, {"stream", stream}};
}

// Stub options that keep a stream running until the client or the test ends it.
gateway::GatewayOptions slow_stub_options() {
  auto options = stub_gateway_options();
  options.load.backend_options["token_delay_us"] = "20000";
  return options;
}

TEST(GatewayHttp, ListsTheServedModelsAndIsHealthy) {
  RunningGateway server(stub_gateway_options());
  const auto models = http_request(server.port(), "GET", "/v1/models");
  ASSERT_EQ(models.status, 200u) << models.body;
  const auto data = models.json().at("data").as_array();
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0].at("id").as_string(), "stub");
  const auto one = http_request(server.port(), "GET", "/v1/models/stub");
  EXPECT_EQ(one.status, 200u);
  EXPECT_EQ(one.json().at("id").as_string(), "stub");

  const auto health = http_request(server.port(), "GET", "/health");
  ASSERT_EQ(health.status, 200u) << health.body;
  EXPECT_EQ(health.json().at("status").as_string(), "ok");
  EXPECT_EQ(health.json().at("models").as_array().at(0).at("state").as_string(), "loaded");
}

TEST(GatewayHttp, ChatCompletionAnswersWithTheWholeTextAndUsage) {
  RunningGateway server(stub_gateway_options());
  const auto answer = post_json(server.port(), "/v1/chat/completions", chat_body(5));
  ASSERT_EQ(answer.status, 200u) << answer.body;
  const auto body = answer.json().as_object();
  EXPECT_EQ(body.at("object").as_string(), "chat.completion");
  EXPECT_EQ(body.at("model").as_string(), "stub");
  const auto& choice = body.at("choices").as_array().at(0).as_object();
  EXPECT_EQ(choice.at("message").at("role").as_string(), "assistant");
  EXPECT_FALSE(choice.at("message").at("content").as_string().empty());
  EXPECT_EQ(choice.at("finish_reason").as_string(), "length");
  EXPECT_EQ(body.at("usage").at("completion_tokens").as_int64(), 5);
}

TEST(GatewayHttp, StreamedChatSendsTheRoleThenOneChunkPerTokenThenDone) {
  RunningGateway server(stub_gateway_options());
  auto body = chat_body(4, true);
  body["stream_options"] = json::object{{"include_usage", true}};
  SseClient stream(server.port(), "/v1/chat/completions", body);
  ASSERT_EQ(stream.status(), 200u) << stream.error_body();
  const auto events = stream.rest();
  // role, 4 tokens, finish, usage, [DONE]
  ASSERT_EQ(events.size(), 8u);
  EXPECT_EQ(json::parse(events[0]).at("choices").at(0).at("delta").at("role").as_string(), "assistant");
  for (int i = 1; i <= 4; ++i) {
    EXPECT_TRUE(json::parse(events[i]).at("choices").at(0).at("finish_reason").is_null()) << events[i];
  }
  EXPECT_EQ(json::parse(events[5]).at("choices").at(0).at("finish_reason").as_string(), "length");
  const auto usage = json::parse(events[6]);
  EXPECT_TRUE(usage.at("choices").as_array().empty());
  EXPECT_EQ(usage.at("usage").at("completion_tokens").as_int64(), 4);
  EXPECT_EQ(events[7], "[DONE]");
}

TEST(GatewayHttp, StreamedCompletionEndsWithDone) {
  RunningGateway server(stub_gateway_options());
  SseClient stream(server.port(), "/v1/completions", completion_body(3, true));
  ASSERT_EQ(stream.status(), 200u) << stream.error_body();
  const auto events = stream.rest();
  ASSERT_EQ(events.size(), 5u);  // 3 tokens, finish, [DONE]
  EXPECT_EQ(json::parse(events[0]).at("object").as_string(), "text_completion");
  EXPECT_EQ(events.back(), "[DONE]");
}

TEST(GatewayHttp, UnknownModelIs404NamingTheServedOnes) {
  RunningGateway server(stub_gateway_options());
  auto body = chat_body(1);
  body["model"] = "gpt-4";
  const auto answer = post_json(server.port(), "/v1/chat/completions", body);
  EXPECT_EQ(answer.status, 404u);
  const auto error = answer.json().at("error");
  EXPECT_EQ(error.at("code").as_string(), "model_not_found");
  EXPECT_NE(std::string(error.at("message").as_string()).find("stub"), std::string::npos) << answer.body;
}

TEST(GatewayHttp, ApiKeyIsRequiredOnV1AndAcceptedWhenRight) {
  auto options = stub_gateway_options();
  options.api_key = "s3cret";
  RunningGateway server(options);
  const auto missing = post_json(server.port(), "/v1/completions", completion_body(1));
  EXPECT_EQ(missing.status, 401u);
  EXPECT_EQ(missing.json().at("error").at("code").as_string(), "invalid_api_key");
  const auto wrong =
      post_json(server.port(), "/v1/completions", completion_body(1), {{"Authorization", "Bearer s3cres"}});
  EXPECT_EQ(wrong.status, 401u);
  const auto right =
      post_json(server.port(), "/v1/completions", completion_body(1), {{"Authorization", "Bearer s3cret"}});
  EXPECT_EQ(right.status, 200u) << right.body;
  // Probes stay open.
  EXPECT_EQ(http_request(server.port(), "GET", "/health").status, 200u);
}

TEST(GatewayHttp, BadRequestsGetA4xxAndTheServerKeepsServing) {
  auto options = stub_gateway_options();
  options.limits.max_body_bytes = 1024;
  options.limits.max_header_bytes = 2048;
  RunningGateway server(options);
  const auto port = server.port();

  EXPECT_EQ(http_request(port, "POST", "/v1/completions", std::string(4096, 'x')).status, 413u);
  EXPECT_EQ(http_request(port, "POST", "/v1/completions", "{not json").status, 400u);
  EXPECT_EQ(http_request(port, "POST", "/v1/completions",
                         "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]")
                .status,
            400u);
  EXPECT_EQ(http_request(port, "GET", "/v1/completions", "", {{"X-Padding", std::string(4096, 'p')}}).status, 431u);
  EXPECT_NE(raw_exchange(port, "GARBAGE / HTTP/9.9\r\n\r\n").find(" 400 "), std::string::npos);
  EXPECT_EQ(http_request(port, "GET", "/nowhere").status, 404u);
  EXPECT_EQ(http_request(port, "DELETE", "/v1/completions").status, 405u);
  auto unknown_role = chat_body(1);
  unknown_role["messages"] = json::array{json::object{{"role", "wizard"}, {"content", "hi"}}};
  const auto refused = post_json(port, "/v1/chat/completions", unknown_role);
  EXPECT_EQ(refused.status, 400u);
  EXPECT_EQ(refused.json().at("error").at("code").as_string(), "invalid_argument");

  EXPECT_EQ(post_json(port, "/v1/completions", completion_body(1)).status, 200u);
}

TEST(GatewayHttp, NoCorsHeadersUnlessAsked) {
  {
    RunningGateway server(stub_gateway_options());
    const auto answer = http_request(server.port(), "GET", "/v1/models", "", {{"Origin", "http://app.example"}});
    EXPECT_EQ(answer.headers.count("access-control-allow-origin"), 0u);
    EXPECT_NE(http_request(server.port(), "OPTIONS", "/v1/models", "", {{"Origin", "http://app.example"}}).status,
              204u);
  }
  auto options = stub_gateway_options();
  options.cors_origin = "http://app.example";
  RunningGateway server(options);
  const auto preflight = http_request(server.port(), "OPTIONS", "/v1/chat/completions", "",
                                      {{"Origin", "http://app.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(preflight.status, 204u);
  EXPECT_EQ(preflight.header("access-control-allow-origin"), "http://app.example");
  const auto other = http_request(server.port(), "GET", "/v1/models", "", {{"Origin", "http://evil.example"}});
  EXPECT_EQ(other.headers.count("access-control-allow-origin"), 0u);
}

TEST(GatewayHttp, AFullQueueAnswers429WithRetryAfterAtOnce) {
  auto options = slow_stub_options();
  options.load.parallel_slots = 1;
  options.load.queue_limit = 0;
  RunningGateway server(options);
  SseClient holder(server.port(), "/v1/completions", completion_body(30000, true));
  ASSERT_EQ(holder.status(), 200u);
  ASSERT_TRUE(holder.next_event());  // the one slot is taken

  const auto refused = post_json(server.port(), "/v1/completions", completion_body(1));
  EXPECT_EQ(refused.status, 429u) << refused.body;
  EXPECT_EQ(refused.header("retry-after"), "1");
  EXPECT_EQ(refused.json().at("error").at("code").as_string(), "overloaded");
  holder.hang_up();
}

TEST(GatewayHttp, RequestTimeoutHeaderBoundsQueueAndGeneration) {
  RunningGateway server(slow_stub_options());
  const auto answer =
      post_json(server.port(), "/v1/completions", completion_body(30000), {{"X-Request-Timeout", "0.2"}});
  EXPECT_EQ(answer.status, 504u) << answer.body;
  EXPECT_EQ(answer.json().at("error").at("code").as_string(), "deadline_exceeded");
  EXPECT_EQ(post_json(server.port(), "/v1/completions", completion_body(1), {{"X-Request-Timeout", "soon"}}).status,
            400u);
  EXPECT_EQ(post_json(server.port(), "/v1/completions", completion_body(1), {{"X-Priority", "high"}}).status, 400u);
}

TEST(GatewayHttp, AClientThatHangsUpCancelsItsRequest) {
  RunningGateway server(slow_stub_options());
  const std::string busy = R"(inference_slots_busy{model="stub"})";
  const std::string cancelled = R"(inference_requests_total{model="stub",endpoint="completions",outcome="cancelled"})";
  {
    SseClient client(server.port(), "/v1/completions", completion_body(30000, true));
    ASSERT_EQ(client.status(), 200u);
    ASSERT_TRUE(client.next_event());
    client.hang_up();
  }
  EXPECT_TRUE(eventually([&] { return metric_value(server.port(), cancelled) == 1.0; }, std::chrono::seconds(10)))
      << "the gateway did not record the cancelled stream";
  // The tokens it did send count, although the runtime reports no metrics for a cancelled stream.
  EXPECT_GE(metric_value(server.port(), R"(inference_completion_tokens_total{model="stub"})").value_or(0), 1.0);
  EXPECT_TRUE(eventually([&] { return metric_value(server.port(), busy) == 0.0; }, std::chrono::seconds(10)));

  // Without streaming nothing is written before the end: only watching the connection notices.
  UnreadRequest whole(server.port(), "/v1/completions", completion_body(30000, false));
  ASSERT_TRUE(eventually([&] { return metric_value(server.port(), busy) == 1.0; }, std::chrono::seconds(10)));
  whole.hang_up();
  EXPECT_TRUE(eventually([&] { return metric_value(server.port(), cancelled) == 2.0; }, std::chrono::seconds(10)))
      << "the gateway did not record the cancelled whole request";
  EXPECT_TRUE(eventually([&] { return metric_value(server.port(), busy) == 0.0; }, std::chrono::seconds(10)));
}

TEST(GatewayHttp, ShutdownLetsARunningStreamFinishAndRefusesNewConnections) {
  auto options = stub_gateway_options();
  options.load.backend_options["token_delay_us"] = "2000";
  RunningGateway server(options);
  SseClient stream(server.port(), "/v1/completions", completion_body(50, true));
  ASSERT_EQ(stream.status(), 200u);
  ASSERT_TRUE(stream.next_event());
  server.begin_shutdown();
  const auto events = stream.rest();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  server.shutdown();
  EXPECT_THROW(http_request(server.port(), "GET", "/health"), boost::system::system_error);
}

TEST(GatewayHttp, ShutdownCancelsWhatOutlastsTheDrain) {
  auto options = slow_stub_options();
  options.drain = std::chrono::seconds(0);
  RunningGateway server(options);
  SseClient stream(server.port(), "/v1/completions", completion_body(30000, true));
  ASSERT_EQ(stream.status(), 200u);
  ASSERT_TRUE(stream.next_event());
  server.shutdown();
  const auto events = stream.rest();
  EXPECT_TRUE(events.empty() || events.back() != "[DONE]") << "the stream was not cut";
}

TEST(GatewayHttp, IdleModelIsUnloadedAndLoadedAgainOnTheNextRequest) {
  auto options = stub_gateway_options();
  options.pool.idle_unload = std::chrono::seconds(1);
  RunningGateway server(options);
  const auto state = [&] {
    return std::string(http_request(server.port(), "GET", "/health").json().at("models").at(0).at("state").as_string());
  };
  EXPECT_EQ(state(), "unloaded");
  EXPECT_EQ(post_json(server.port(), "/v1/completions", completion_body(1)).status, 200u);
  EXPECT_EQ(state(), "loaded");
  EXPECT_TRUE(eventually([&] { return state() == "unloaded"; }, std::chrono::seconds(10)));
  EXPECT_EQ(post_json(server.port(), "/v1/completions", completion_body(1)).status, 200u);
}

}  // namespace
}  // namespace inference::test
