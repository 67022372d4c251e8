// POST /v1/embeddings in front of the real llama-server (llama_cpp backend, the shared tiny
// model): a model served with embeddings=true answers vectors of its embedding_length; one
// served to generate answers 400 with the runtime's message.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <boost/json.hpp>
#include <string>

#include "gateway_harness.hpp"
#include "support/test_inputs.hpp"

namespace inference::test {
namespace {

namespace json = boost::json;
constexpr std::string_view kModel = "llama-2-tiny-random";
constexpr std::size_t kTinyEmbeddingLength = 8;  // llama.embedding_length of the tiny model

class GatewayEmbeddingsLlamaServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto reason = llama_server_skip_reason()) GTEST_SKIP() << *reason;
    ::setenv("LLAMA_SERVER_PATH", llama_server_for_tests().c_str(), 1);
  }

  static gateway::GatewayOptions options(bool embeddings) {
    gateway::GatewayOptions options;
    options.models = {{std::string(kModel), tiny_model_for_tests().string()}};
    options.backend = "llama_cpp";
    options.load.parallel_slots = 2;
    options.load.context_len = 256;
    options.load.backend_options["server_args"] = "-t\n1";
    if (embeddings) {
      options.load.backend_options["embeddings"] = "true";
      options.load.backend_options["pooling"] = "mean";  // the tiny model's own pooling is none
    }
    return options;
  }

  static json::object body() {
    return {{"model", kModel}, {"input", json::array{"first text", "second text", "first text"}}};
  }
};

TEST_F(GatewayEmbeddingsLlamaServerTest, AModelServedForEmbeddingsAnswersVectorsOfItsDimension) {
  RunningGateway server(options(true));
  const auto answer = post_json(server.port(), "/v1/embeddings", body());
  ASSERT_EQ(answer.status, 200u) << answer.body;
  const json::value parsed = answer.json();
  const json::array& data = parsed.at("data").as_array();
  ASSERT_EQ(data.size(), 3u);
  for (const json::value& item : data) EXPECT_EQ(item.at("embedding").as_array().size(), kTinyEmbeddingLength);
  EXPECT_EQ(data[0].at("embedding"), data[2].at("embedding"));
  EXPECT_NE(data[0].at("embedding"), data[1].at("embedding"));
  EXPECT_GT(parsed.at("usage").at("prompt_tokens").to_number<int>(), 0);
  // Generation is refused rather than sent to a server that would crash on it.
  const auto completion =
      post_json(server.port(), "/v1/completions", json::object{{"model", kModel}, {"prompt", "hi"}, {"max_tokens", 2}});
  EXPECT_EQ(completion.status, 400u) << completion.body;
  EXPECT_EQ(post_json(server.port(), "/v1/embeddings", body()).status, 200u);
}

TEST_F(GatewayEmbeddingsLlamaServerTest, AModelServedToGenerateRefusesEmbeddingsWith400) {
  RunningGateway server(options(false));
  const auto answer = post_json(server.port(), "/v1/embeddings", body());
  EXPECT_EQ(answer.status, 400u) << answer.body;
  const std::string message(answer.json().at("error").at("message").as_string());
  EXPECT_NE(message.find("embeddings=true"), std::string::npos) << message;
}

TEST_F(GatewayEmbeddingsLlamaServerTest, ModelOptionsServeOneFileForEmbeddingsAndOneToGenerate) {
  auto both = options(false);
  // The same file twice: under its stem to generate, under an alias for embeddings
  // (llmctl serve --alias tiny-embed=PATH --model-opt tiny-embed:embeddings=true ...).
  gateway::ServedModel embedder{"tiny-embed", tiny_model_for_tests().string()};
  embedder.backend_options = {{"embeddings", "true"}, {"pooling", "mean"}};
  both.models.push_back(embedder);
  RunningGateway server(both);
  auto embed = body();
  embed["model"] = "tiny-embed";
  const auto vectors = post_json(server.port(), "/v1/embeddings", embed);
  EXPECT_EQ(vectors.status, 200u) << vectors.body;
  const auto completion =
      post_json(server.port(), "/v1/completions", json::object{{"model", kModel}, {"prompt", "hi"}, {"max_tokens", 2}});
  EXPECT_EQ(completion.status, 200u) << completion.body;
  EXPECT_EQ(post_json(server.port(), "/v1/embeddings", body()).status, 400u);
}

}  // namespace
}  // namespace inference::test
