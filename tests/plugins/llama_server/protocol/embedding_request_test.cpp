#include "inference/llama_server/embedding_request.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

TEST(EmbeddingRequest, SendsTheInputAsOneString) {
  EXPECT_EQ(boost::json::parse(embedding_request_body("hi \"there\"")),
            boost::json::parse(R"({"input":"hi \"there\""})"));
}

TEST(EmbeddingRequest, ReadsTheVectorAndTokenCountOfACapturedResponse) {
  // Captured from llama-server build 11669 (--embeddings --pooling mean, the tiny model), input "".
  const std::string body =
      R"({"model":"m.gguf","object":"list","usage":{"prompt_tokens":1,"total_tokens":1},"data":[{"embedding":)"
      R"([0.581560492515564,0.22539614140987396,0.3020286560058594,-0.34688135981559753,-0.4446558952331543,)"
      R"(0.19785639643669128,0.3173057436943054,-0.2487710565328598],"index":0,"object":"embedding"}]})";
  const Embedding embedding = parse_embedding_response(body);
  ASSERT_EQ(embedding.values.size(), 8U);
  EXPECT_FLOAT_EQ(embedding.values[0], 0.581560492515564F);
  EXPECT_FLOAT_EQ(embedding.values[7], -0.2487710565328598F);
  EXPECT_EQ(embedding.prompt_tokens, 1U);
}

TEST(EmbeddingRequest, RejectsAResponseOfAnotherShape) {
  for (const char* body :
       {"", "[]", "{}", R"({"data":[],"usage":{"prompt_tokens":1}})",
        R"({"data":[{"embedding":[[0.5]]}],"usage":{"prompt_tokens":1}})", R"({"data":[{"embedding":[0.5]}]})"}) {
    try {
      (void)parse_embedding_response(body);
      ADD_FAILURE() << "expected a protocol error for " << body;
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    }
  }
}

TEST(RerankRequest, SendsTheQueryAndOneDocument) {
  EXPECT_EQ(boost::json::parse(rerank_request_body("q", "d")),
            boost::json::parse(R"({"query":"q","documents":["d"]})"));
}

TEST(RerankRequest, ReadsTheScoreOfACapturedResponse) {
  // Captured from llama-server build 11669 (--reranking, the tiny model).
  const std::string body = R"({"model":"m.gguf","object":"list","usage":{"prompt_tokens":4,"total_tokens":4},)"
                           R"("results":[{"index":0,"relevance_score":1.2751290798187256}]})";
  EXPECT_DOUBLE_EQ(parse_rerank_response(body), 1.2751290798187256);
}

TEST(RerankRequest, RejectsAResponseOfAnotherShape) {
  for (const char* body : {"", "{}", R"({"results":[]})", R"({"results":[{"index":0}]})"}) {
    try {
      (void)parse_rerank_response(body);
      ADD_FAILURE() << "expected a protocol error for " << body;
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    }
  }
}

}  // namespace
}  // namespace inference::llama_server
