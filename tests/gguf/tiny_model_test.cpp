#include "inference/gguf/tiny_model.hpp"

#include <gtest/gtest.h>

#include "inference/error.hpp"
#include "inference/gguf/gguf_reader.hpp"
#include "test_environment.hpp"

namespace inference::gguf {
namespace {

constexpr std::size_t kMaxTinyModelBytes = std::size_t{4} << 20;

TEST(TinyModel, SameSeedGivesIdenticalBytes) {
  EXPECT_EQ(make_tiny_model(42).serialize(), make_tiny_model(42).serialize());
}

TEST(TinyModel, DifferentSeedsGiveDifferentWeights) {
  EXPECT_NE(make_tiny_model(1).serialize(), make_tiny_model(2).serialize());
}

TEST(TinyModel, StaysSmall) { EXPECT_LT(make_tiny_model(1).serialize().size(), kMaxTinyModelBytes); }

TEST(TinyModel, HasTheTensorsLlamaCppExpects) {
  const auto image = make_tiny_model(3).serialize();
  const auto file = parse_gguf(image, "tiny.gguf");
  const TinyModelOptions o;
  const uint64_t vocab = file.find("tokenizer.ggml.tokens")->as_array()->items.size();
  auto tensor = [&](const std::string& name) -> const TensorInfo& {
    for (const auto& t : file.tensors) {
      if (t.name == name) return t;
    }
    throw std::runtime_error("missing tensor " + name);
  };
  const uint64_t kv = o.embedding_length / o.head_count * o.head_count_kv;
  EXPECT_EQ(tensor("token_embd.weight").dims, (std::vector<uint64_t>{o.embedding_length, vocab}));
  EXPECT_EQ(tensor("output.weight").dims, (std::vector<uint64_t>{o.embedding_length, vocab}));
  EXPECT_EQ(tensor("output_norm.weight").dims, (std::vector<uint64_t>{o.embedding_length}));
  EXPECT_EQ(tensor("blk.1.attn_k.weight").dims, (std::vector<uint64_t>{o.embedding_length, kv}));
  EXPECT_EQ(tensor("blk.1.ffn_down.weight").dims, (std::vector<uint64_t>{o.feed_forward_length, o.embedding_length}));
  for (const auto& t : file.tensors) {
    EXPECT_EQ((file.data_offset + t.offset) % kDefaultAlignment, 0U) << t.name;
  }
}

TEST(TinyModel, VocabularyIsByteLevelSentencePiece) {
  const auto image = make_tiny_model(3).serialize();
  const auto file = parse_gguf(image, "tiny.gguf");
  EXPECT_EQ(*file.find("tokenizer.ggml.model")->as_string(), "llama");
  const auto& tokens = file.find("tokenizer.ggml.tokens")->as_array()->items;
  ASSERT_GT(tokens.size(), 300U);
  EXPECT_EQ(*tokens[0].as_string(), "<unk>");
  EXPECT_EQ(*tokens[1].as_string(), "<s>");
  EXPECT_EQ(*tokens[2].as_string(), "</s>");
  EXPECT_EQ(*tokens[3].as_string(), "<0x00>");
  EXPECT_EQ(*tokens[3 + 255].as_string(), "<0xFF>");
  EXPECT_EQ(file.find("tokenizer.ggml.scores")->as_array()->items.size(), tokens.size());
  EXPECT_EQ(file.find("tokenizer.ggml.token_type")->as_array()->items.size(), tokens.size());
  bool has_the = false;
  for (const auto& t : tokens) has_the = has_the || *t.as_string() == "\xE2\x96\x81the";
  EXPECT_TRUE(has_the);
}

TEST(TinyModel, WritesVersion2OnRequest) {
  TinyModelOptions o;
  o.version = 2;
  EXPECT_EQ(parse_gguf(make_tiny_model(1, o).serialize(WriteOptions{2}), "v2.gguf").version, 2U);
}

TEST(TinyModel, RejectsHeadCountsThatDoNotDivideTheEmbedding) {
  TinyModelOptions o;
  o.head_count = 3;
  EXPECT_THROW((void)make_tiny_model(1, o), Error);
}

}  // namespace
}  // namespace inference::gguf
