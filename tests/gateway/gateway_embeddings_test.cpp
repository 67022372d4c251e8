// POST /v1/embeddings, /tokenize and /detokenize over HTTP on the stub backend (deterministic
// vectors, no server): OpenAI's response shape, base64, the refusals (400 naming the field), the
// API key and unknown models. The same endpoint against the real llama-server is in
// gateway_embeddings_llama_server_test.cpp.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <cstring>
#include <string>
#include <vector>

#include "gateway_harness.hpp"

namespace inference::test {
namespace {

namespace json = boost::json;

constexpr std::size_t kStubDimension = 16;  // stub::kEmbeddingLength

json::object embeddings_body(json::value input) { return {{"model", "stub"}, {"input", std::move(input)}}; }

std::vector<double> vector_of(const json::value& item) {
  std::vector<double> values;
  for (const json::value& value : item.at("embedding").as_array()) values.push_back(value.to_number<double>());
  return values;
}

std::string param_of(const HttpAnswer& answer) {
  const json::value parsed = answer.json();
  const json::value& param = parsed.at("error").at("param");
  return param.is_string() ? std::string(param.as_string()) : std::string();
}

std::vector<uint8_t> base64_decode(std::string_view text) {
  constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::vector<uint8_t> out;
  uint32_t bits = 0;
  int count = 0;
  for (const char c : text) {
    if (c == '=') break;
    bits = (bits << 6) | static_cast<uint32_t>(kAlphabet.find(c));
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<uint8_t>((bits >> count) & 0xFF));
    }
  }
  return out;
}

TEST(GatewayEmbeddings, AnswersInOpenAiShapeWithOneVectorPerInputInOrder) {
  RunningGateway server(stub_gateway_options());
  const auto answer =
      post_json(server.port(), "/v1/embeddings", embeddings_body(json::array{"the cat", "a dog", "the cat"}));
  ASSERT_EQ(answer.status, 200u) << answer.body;
  const json::value body = answer.json();
  EXPECT_EQ(body.at("object").as_string(), "list");
  EXPECT_EQ(body.at("model").as_string(), "stub");
  const json::array& data = body.at("data").as_array();
  ASSERT_EQ(data.size(), 3u);
  for (std::size_t i = 0; i < data.size(); ++i) {
    EXPECT_EQ(data[i].at("object").as_string(), "embedding");
    EXPECT_EQ(data[i].at("index").to_number<std::size_t>(), i);
    EXPECT_EQ(vector_of(data[i]).size(), kStubDimension);
  }
  EXPECT_EQ(vector_of(data[0]), vector_of(data[2]));
  EXPECT_NE(vector_of(data[0]), vector_of(data[1]));
  EXPECT_EQ(body.at("usage").at("prompt_tokens").to_number<int>(), 6);  // the stub counts words
  EXPECT_EQ(body.at("usage").at("total_tokens").to_number<int>(), 6);
  // A single string is one input.
  const auto single = post_json(server.port(), "/v1/embeddings", embeddings_body("a dog"));
  ASSERT_EQ(single.status, 200u) << single.body;
  EXPECT_EQ(vector_of(single.json().at("data").at(0)), vector_of(data[1]));
}

TEST(GatewayEmbeddings, Base64IsTheFloatVectorsBytes) {
  RunningGateway server(stub_gateway_options());
  auto body = embeddings_body("the cat");
  const auto floats = post_json(server.port(), "/v1/embeddings", body);
  body["encoding_format"] = "base64";
  const auto encoded = post_json(server.port(), "/v1/embeddings", body);
  ASSERT_EQ(encoded.status, 200u) << encoded.body;
  const auto bytes = base64_decode(encoded.json().at("data").at(0).at("embedding").as_string());
  ASSERT_EQ(bytes.size(), kStubDimension * sizeof(float));
  std::vector<float> decoded(kStubDimension);
  std::memcpy(decoded.data(), bytes.data(), bytes.size());
  const std::vector<double> expected = vector_of(floats.json().at("data").at(0));
  for (std::size_t i = 0; i < kStubDimension; ++i) EXPECT_FLOAT_EQ(decoded[i], static_cast<float>(expected[i]));
}

TEST(GatewayEmbeddings, RefusalsAre400NamingTheField) {
  RunningGateway server(stub_gateway_options());
  const auto port = server.port();
  auto dimensions = embeddings_body("x");
  dimensions["dimensions"] = 8;
  const auto wrong_dimensions = post_json(port, "/v1/embeddings", dimensions);
  EXPECT_EQ(wrong_dimensions.status, 400u);
  EXPECT_EQ(param_of(wrong_dimensions), "dimensions");
  dimensions["dimensions"] = kStubDimension;
  EXPECT_EQ(post_json(port, "/v1/embeddings", dimensions).status, 200u);

  const auto token_ids = post_json(port, "/v1/embeddings", embeddings_body(json::array{json::array{1, 2}}));
  EXPECT_EQ(token_ids.status, 400u);
  EXPECT_EQ(param_of(token_ids), "input[0]");
  const auto empty = post_json(port, "/v1/embeddings", embeddings_body(json::array{"a", ""}));
  EXPECT_EQ(empty.status, 400u);
  EXPECT_EQ(param_of(empty), "input[1]");
  const auto missing = post_json(port, "/v1/embeddings", json::object{{"model", "stub"}});
  EXPECT_EQ(missing.status, 400u);
  EXPECT_EQ(param_of(missing), "input");
  auto format = embeddings_body("x");
  format["encoding_format"] = "int8";
  EXPECT_EQ(param_of(post_json(port, "/v1/embeddings", format)), "encoding_format");
  auto unknown = embeddings_body("x");
  unknown["model"] = "nope";
  EXPECT_EQ(post_json(port, "/v1/embeddings", unknown).status, 404u);
  EXPECT_EQ(http_request(port, "GET", "/v1/embeddings").status, 405u);
}

TEST(GatewayEmbeddings, TokenizeAndDetokenizeCheckTheirBodies) {
  RunningGateway server(stub_gateway_options());
  const auto port = server.port();
  const auto no_content = post_json(port, "/tokenize", json::object{{"model", "stub"}});
  EXPECT_EQ(no_content.status, 400u);
  EXPECT_EQ(param_of(no_content), "content");
  const auto bad_flag =
      post_json(port, "/tokenize", json::object{{"model", "stub"}, {"content", "hi"}, {"with_pieces", "yes"}});
  EXPECT_EQ(param_of(bad_flag), "with_pieces");
  const auto negative = post_json(port, "/detokenize", json::object{{"model", "stub"}, {"tokens", json::array{5, -1}}});
  EXPECT_EQ(negative.status, 400u);
  EXPECT_EQ(param_of(negative), "tokens[1]");
  EXPECT_EQ(post_json(port, "/detokenize", json::object{{"model", "nope"}, {"tokens", json::array{}}}).status, 404u);
  EXPECT_EQ(http_request(port, "GET", "/tokenize").status, 405u);
}

TEST(GatewayEmbeddings, ApiKeyGuardsEmbeddingsAndTokenize) {
  auto options = stub_gateway_options();
  options.api_key = "s3cret";
  RunningGateway server(options);
  const json::object tokenize{{"model", "stub"}, {"content", "hi"}};
  EXPECT_EQ(post_json(server.port(), "/v1/embeddings", embeddings_body("x")).status, 401u);
  EXPECT_EQ(post_json(server.port(), "/tokenize", tokenize).status, 401u);
  EXPECT_EQ(post_json(server.port(), "/detokenize", json::object{{"model", "stub"}, {"tokens", json::array{}}}).status,
            401u);
  const auto right =
      post_json(server.port(), "/v1/embeddings", embeddings_body("x"), {{"Authorization", "Bearer s3cret"}});
  EXPECT_EQ(right.status, 200u) << right.body;
}

}  // namespace
}  // namespace inference::test
