#include "inference/llama_server/completion_chunk.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/llama_server/server_error.hpp"
#include "inference/llama_server/sse_parser.hpp"
#include "test_data.hpp"

namespace inference::llama_server {
namespace {

// Every chunk of a captured stream file, decoded.
std::vector<CompletionChunk> decode_stream(std::string_view name) {
  const std::string stream = test::read_test_data(name);
  SseParser sse;
  CompletionChunkParser parser;
  std::vector<CompletionChunk> chunks;
  sse.feed(stream);
  while (auto event = sse.next()) {
    EXPECT_EQ(event->kind, SseEvent::Kind::data);
    parser.parse(event->payload, chunks.emplace_back());
  }
  sse.finish();
  return chunks;
}

CompletionChunk decode(std::string_view payload) {
  CompletionChunkParser parser;
  CompletionChunk chunk;
  parser.parse(payload, chunk);
  return chunk;
}

void expect_protocol_error(std::string_view payload, std::string_view mentions) {
  try {
    (void)decode(payload);
    ADD_FAILURE() << "expected a protocol error for " << payload;
  } catch (const ServerError& e) {
    ADD_FAILURE() << "unexpected server error " << e.what();
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    EXPECT_NE(std::string(e.what()).find(mentions), std::string::npos) << e.what();
  }
}

TEST(CompletionChunk, DecodesTokenChunksOfACapturedStream) {
  const auto chunks = decode_stream("stream_limit.sse");
  ASSERT_EQ(chunks.size(), 5U);
  EXPECT_EQ(chunks[0].content, "\xe2\x80\x8f");
  EXPECT_EQ(chunks[1].content, "Wik");
  EXPECT_EQ(chunks[3].content, " Thread");
  EXPECT_EQ(chunks[0].tokens, std::vector<TokenId>{30422});
  EXPECT_EQ(chunks[3].tokens, std::vector<TokenId>{10480});
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_FALSE(chunks[i].stop);
    EXPECT_EQ(chunks[i].id_slot, -1);
    EXPECT_EQ(chunks[i].tokens_predicted, static_cast<std::int64_t>(i + 1));
    EXPECT_EQ(chunks[i].tokens_evaluated, 2);
    EXPECT_FALSE(chunks[i].timings);
    EXPECT_FALSE(chunks[i].tokens_cached);
    EXPECT_TRUE(chunks[i].probabilities.empty());
  }
}

TEST(CompletionChunk, DecodesTheFinalChunkWithStopTypeLimitAndTimings) {
  const CompletionChunk last = decode_stream("stream_limit.sse").back();
  EXPECT_TRUE(last.stop);
  EXPECT_EQ(last.stop_type, StopType::limit);
  EXPECT_EQ(last.content, "");
  EXPECT_TRUE(last.tokens.empty());
  EXPECT_EQ(last.id_slot, 1);
  EXPECT_FALSE(last.truncated);
  EXPECT_EQ(last.tokens_predicted, 4);
  EXPECT_EQ(last.tokens_cached, 5);
  ASSERT_TRUE(last.timings);
  EXPECT_EQ(last.timings->cache_n, 1);
  EXPECT_EQ(last.timings->prompt_n, 1);
  EXPECT_EQ(last.timings->predicted_n, 4);
  EXPECT_GT(last.timings->prompt_ms, 0.0);
  EXPECT_GT(last.timings->predicted_ms, 0.0);
  EXPECT_GT(last.timings->prompt_per_second, 0.0);
  EXPECT_GT(last.timings->predicted_per_second, 0.0);
}

TEST(CompletionChunk, DecodesAnEosStopWithTheStreamedEosToken) {
  const auto chunks = decode_stream("stream_eos.sse");
  ASSERT_EQ(chunks.size(), 2U);
  EXPECT_EQ(chunks[0].content, "");
  EXPECT_EQ(chunks[0].tokens, std::vector<TokenId>{2});
  EXPECT_EQ(chunks[1].stop_type, StopType::eos);
}

TEST(CompletionChunk, DecodesAWordStopWithTheMatchedStopString) {
  const auto chunks = decode_stream("stream_word.sse");
  ASSERT_FALSE(chunks.empty());
  const CompletionChunk& last = chunks.back();
  EXPECT_EQ(last.stop_type, StopType::word);
  EXPECT_EQ(last.stopping_word, " player");
  // The chunk of the stop token has no text but, on this build, timings.
  const CompletionChunk& stop_token = chunks[chunks.size() - 2];
  EXPECT_EQ(stop_token.content, "");
  EXPECT_FALSE(stop_token.stop);
  EXPECT_TRUE(stop_token.timings);
}

TEST(CompletionChunk, DecodesTokenProbabilitiesAsLogProbabilities) {
  const auto chunks = decode_stream("stream_probs.sse");
  ASSERT_EQ(chunks.size(), 3U);
  const CompletionChunk& first = chunks[0];
  ASSERT_EQ(first.probabilities.size(), 1U);
  const TokenProbabilities& probabilities = first.probabilities[0];
  EXPECT_EQ(probabilities.chosen.id, first.tokens.at(0));
  EXPECT_EQ(probabilities.chosen.text, first.content);
  EXPECT_LT(probabilities.chosen.logprob, 0.0);
  ASSERT_EQ(probabilities.top.size(), 2U);
  EXPECT_GE(probabilities.top[0].logprob, probabilities.top[1].logprob);
  EXPECT_TRUE(chunks[2].probabilities.empty());  // the final chunk has none
}

TEST(CompletionChunk, ConvertsPostSamplingProbabilitiesToLogProbabilities) {
  const CompletionChunk chunk = decode(
      R"({"content":"a","stop":false,"completion_probabilities":[{"id":5,"token":"a","bytes":[97],"prob":0.5,)"
      R"("top_probs":[{"id":5,"token":"a","bytes":[97],"prob":0.5},{"id":6,"token":"b","bytes":[98],"prob":0.25}]}]})");
  ASSERT_EQ(chunk.probabilities.size(), 1U);
  EXPECT_DOUBLE_EQ(chunk.probabilities[0].chosen.logprob, std::log(0.5));
  ASSERT_EQ(chunk.probabilities[0].top.size(), 2U);
  EXPECT_EQ(chunk.probabilities[0].top[1].text, "b");
  EXPECT_DOUBLE_EQ(chunk.probabilities[0].top[1].logprob, std::log(0.25));
}

TEST(CompletionChunk, ReusingAChunkOverwritesEveryField) {
  CompletionChunkParser parser;
  CompletionChunk chunk;
  const auto chunks = decode_stream("stream_word.sse");
  const std::string stream = test::read_test_data("stream_word.sse");
  SseParser sse;
  sse.feed(stream);
  std::vector<std::string> payloads;
  while (auto event = sse.next()) {
    payloads.emplace_back(event->payload);
  }
  parser.parse(payloads.back(), chunk);  // the final chunk first, then a token chunk
  parser.parse(payloads.front(), chunk);
  EXPECT_FALSE(chunk.stop);
  EXPECT_EQ(chunk.stop_type, StopType::none);
  EXPECT_EQ(chunk.stopping_word, "");
  EXPECT_FALSE(chunk.timings);
  EXPECT_FALSE(chunk.tokens_cached);
  EXPECT_EQ(chunk.id_slot, -1);
  EXPECT_EQ(chunk.content, chunks.front().content);
}

TEST(CompletionChunk, ThrowsTheServersErrorObjectAsServerError) {
  try {
    (void)decode(test::read_test_data("error_context_size.json"));
    FAIL() << "expected a server error";
  } catch (const ServerError& e) {
    EXPECT_TRUE(e.is(errc::child_error));
    EXPECT_EQ(e.status(), 400U);
    EXPECT_EQ(e.type(), "exceed_context_size_error");
    EXPECT_NE(e.server_message().find("exceeds the available context size"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("exceeds the available context size"), std::string::npos);
  }
}

TEST(CompletionChunk, RejectsMalformedJson) {
  expect_protocol_error(R"({"content":"a","stop":fal)", "not valid JSON");
  expect_protocol_error(R"({"content":"a","stop":false} trailing)", "not valid JSON");
  expect_protocol_error("", "not valid JSON");
}

TEST(CompletionChunk, RejectsAPayloadThatIsNotAnObject) {
  expect_protocol_error(R"(["content"])", "not a JSON object");
}

TEST(CompletionChunk, NamesAMissingOrMistypedField) {
  expect_protocol_error(R"({"stop":false})", "\"content\" is missing");
  expect_protocol_error(R"({"content":1,"stop":false})", "\"content\" is not a string");
  expect_protocol_error(R"({"content":"a"})", "\"stop\" is missing");
  expect_protocol_error(R"({"content":"a","stop":"no"})", "\"stop\" is not a boolean");
  expect_protocol_error(R"({"content":"a","stop":false,"tokens":5})", "\"tokens\" is not an array");
  expect_protocol_error(R"({"content":"a","stop":false,"tokens":["x"]})", "\"tokens\" is not an integer");
  expect_protocol_error(R"({"content":"a","stop":false,"tokens":[-3]})", "\"tokens\" holds a token id out of range");
  expect_protocol_error(R"({"content":"a","stop":false,"timings":[]})", "\"timings\" is not an object");
  expect_protocol_error(R"({"content":"a","stop":false,"timings":{"prompt_ms":"1"}})", "\"prompt_ms\" is not a number");
  expect_protocol_error(R"({"content":"a","stop":false,"tokens_cached":1.5})", "\"tokens_cached\" is not an integer");
  expect_protocol_error(R"({"content":"a","stop":true,"stop_type":"maybe"})", "unknown stop_type \"maybe\"");
  expect_protocol_error(R"({"content":"a","stop":false,"completion_probabilities":[{"id":1}]})",
                        "\"completion_probabilities\"");
}

TEST(CompletionChunk, MapsEveryStopTypeName) {
  EXPECT_EQ(parse_stop_type("none"), StopType::none);
  EXPECT_EQ(parse_stop_type("eos"), StopType::eos);
  EXPECT_EQ(parse_stop_type("limit"), StopType::limit);
  EXPECT_EQ(parse_stop_type("word"), StopType::word);
  EXPECT_THROW((void)parse_stop_type("EOS"), Error);
}

}  // namespace
}  // namespace inference::llama_server
