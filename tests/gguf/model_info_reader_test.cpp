#include "inference/gguf/model_info_reader.hpp"

#include <gtest/gtest.h>

#include "inference/error.hpp"
#include "inference/gguf/gguf_writer.hpp"
#include "inference/gguf/split_model.hpp"
#include "inference/gguf/tiny_model.hpp"
#include "test_environment.hpp"

namespace inference::gguf {
namespace {

TEST(ModelInfoReader, SummarisesTheSharedTinyLlamaModel) {
  const auto dir = test::models_dir();
  if (!dir) GTEST_SKIP() << "shared models directory not found (set INFERENCE_MODELS_DIR)";
  const auto info = read_model_info(*dir / "llama-2-tiny-random.gguf");
  EXPECT_EQ(info.architecture, "llama");
  EXPECT_EQ(info.vocab_size, 32000U);
  EXPECT_EQ(info.tokenizer_model, "llama");
  EXPECT_EQ(info.gguf_version, 3U);
  EXPECT_GT(info.block_count, 0U);
  EXPECT_GT(info.embedding_length, 0U);
  EXPECT_GT(info.head_count, 0U);
  EXPECT_GT(info.head_count_kv, 0U);
  EXPECT_GT(info.context_length, 0U);
  EXPECT_GT(info.tensor_count, 0U);
  EXPECT_GT(info.tensor_bytes, 0U);
  EXPECT_EQ(info.file_size, 1750560U);
  EXPECT_LE(info.tensor_bytes, info.file_size);
  EXPECT_EQ(info.shards.size(), 1U);
}

TEST(ModelInfoReader, SummarisesTheSharedVocabularyOnlyFile) {
  const auto dir = test::models_dir();
  if (!dir) GTEST_SKIP() << "shared models directory not found (set INFERENCE_MODELS_DIR)";
  const auto info = read_model_info(*dir / "ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(info.architecture, "llama");
  EXPECT_EQ(info.vocab_size, 32000U);
  EXPECT_EQ(info.tokenizer_model, "llama");
  EXPECT_EQ(info.tensor_count, 0U);
  EXPECT_EQ(info.tensor_bytes, 0U);
}

TEST(ModelInfoReader, SummarisesTheTinyModel) {
  test::TempDir dir;
  write_tiny_model(dir / "tiny.gguf", 7);
  const auto info = read_model_info(dir / "tiny.gguf");
  const TinyModelOptions defaults;
  EXPECT_EQ(info.architecture, "llama");
  EXPECT_EQ(info.name, defaults.name);
  EXPECT_EQ(info.file_type, "F32");
  EXPECT_EQ(info.file_type_id, 0U);
  EXPECT_DOUBLE_EQ(info.bits_per_weight, 32.0);
  EXPECT_EQ(info.context_length, defaults.context_length);
  EXPECT_EQ(info.block_count, defaults.block_count);
  EXPECT_EQ(info.embedding_length, defaults.embedding_length);
  EXPECT_EQ(info.head_count, defaults.head_count);
  EXPECT_EQ(info.head_count_kv, defaults.head_count_kv);
  EXPECT_TRUE(info.has_chat_template);
  EXPECT_EQ(info.tensor_count, 3U + 9U * defaults.block_count);
}

TEST(ModelInfoReader, ResolvesArchitectureKeysRegardlessOfKeyOrder) {
  test::TempDir dir;
  GgufBuilder b;
  b.set("qwen2.context_length", uint64_t{32768});
  b.set("qwen2.attention.head_count", uint32_t{16});
  b.set("general.size_label", "0.5B");
  b.set("general.file_type", uint32_t{15});
  b.set("general.architecture", "qwen2");
  b.write(dir / "m.gguf");
  const auto info = read_model_info(dir / "m.gguf");
  EXPECT_EQ(info.context_length, 32768U);
  EXPECT_EQ(info.head_count, 16U);
  EXPECT_EQ(info.head_count_kv, 16U) << "head_count_kv defaults to head_count";
  EXPECT_EQ(info.size_label, "0.5B");
  EXPECT_EQ(info.file_type, "Q4_K_M");
  EXPECT_DOUBLE_EQ(info.bits_per_weight, 4.5);
}

TEST(ModelInfoReader, UnknownFileTypeIsNamedTypeN) {
  test::TempDir dir;
  GgufBuilder b;
  b.set("general.architecture", "llama");
  b.set("general.file_type", uint32_t{999});
  b.write(dir / "m.gguf");
  const auto info = read_model_info(dir / "m.gguf");
  EXPECT_EQ(info.file_type, "type_999");
  EXPECT_EQ(info.bits_per_weight, 0.0);
}

TEST(ModelInfoReader, PerLayerHeadCountsReportTheLargest) {
  test::TempDir dir;
  GgufBuilder b;
  b.set("general.architecture", "openelm");
  b.set("openelm.attention.head_count", make_array(ValueType::int32, {int32_t{12}, int32_t{16}, int32_t{20}}));
  b.write(dir / "m.gguf");
  EXPECT_EQ(read_model_info(dir / "m.gguf").head_count, 20U);
}

TEST(ModelInfoReader, RejectsAFileWithoutArchitecture) {
  test::TempDir dir;
  GgufBuilder b;
  b.set("general.name", "no arch");
  b.write(dir / "m.gguf");
  try {
    (void)read_model_info(dir / "m.gguf");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_model));
    EXPECT_NE(std::string(e.what()).find("general.architecture"), std::string::npos) << e.what();
  }
}

TEST(ModelInfoReader, RejectsAKnownKeyOfTheWrongType) {
  test::TempDir dir;
  GgufBuilder b;
  b.set("general.architecture", "llama");
  b.set("llama.context_length", "long");
  b.write(dir / "m.gguf");
  try {
    (void)read_model_info(dir / "m.gguf");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'llama.context_length' has type string"), std::string::npos) << e.what();
  }
}

void write_split(const std::filesystem::path& dir, uint32_t count, uint32_t skip = 0) {
  for (uint32_t i = 1; i <= count; ++i) {
    if (i == skip) continue;
    GgufBuilder b;
    if (i == 1) {
      b.set("general.architecture", "llama");
      b.set("llama.block_count", uint32_t{2});
    }
    b.set("split.no", static_cast<uint16_t>(i - 1));
    b.set("split.count", static_cast<uint16_t>(count));
    b.add_tensor("t" + std::to_string(i), 0, {8}, std::vector<std::byte>(32));
    b.write(shard_paths({dir / "big", i, count})[i - 1]);
  }
}

TEST(ModelInfoReader, SplitModelsSumAllShards) {
  test::TempDir dir;
  write_split(dir.path(), 3);
  const auto info = read_model_info(dir / "big-00002-of-00003.gguf");
  EXPECT_EQ(info.path, (dir / "big-00001-of-00003.gguf").string());
  EXPECT_EQ(info.shards.size(), 3U);
  EXPECT_EQ(info.tensor_count, 3U);
  EXPECT_EQ(info.tensor_bytes, 96U);
  EXPECT_EQ(info.block_count, 2U);
}

TEST(ModelInfoReader, SplitModelWithAMissingShardIsRejected) {
  test::TempDir dir;
  write_split(dir.path(), 3, 2);
  try {
    (void)read_model_info(dir / "big-00001-of-00003.gguf");
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_model));
    EXPECT_NE(std::string(e.what()).find("missing shard 2 of 3"), std::string::npos) << e.what();
  }
}

TEST(SplitModel, ParsesShardNames) {
  const auto shard = parse_shard_name("/m/Qwen-7B-Q4_K_M-00002-of-00004.gguf");
  ASSERT_TRUE(shard);
  EXPECT_EQ(shard->prefix, std::filesystem::path("/m/Qwen-7B-Q4_K_M"));
  EXPECT_EQ(shard->index, 2U);
  EXPECT_EQ(shard->count, 4U);
  EXPECT_EQ(shard_paths(*shard).back(), std::filesystem::path("/m/Qwen-7B-Q4_K_M-00004-of-00004.gguf"));
  EXPECT_FALSE(parse_shard_name("/m/model.gguf"));
  EXPECT_FALSE(parse_shard_name("/m/x-00005-of-00004.gguf"));
  EXPECT_FALSE(parse_shard_name("/m/x-00000-of-00004.gguf"));
}

}  // namespace
}  // namespace inference::gguf
