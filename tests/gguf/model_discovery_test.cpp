#include "inference/gguf/model_discovery.hpp"

#include <gtest/gtest.h>

#include "inference/error.hpp"
#include "inference/gguf/gguf_writer.hpp"
#include "inference/gguf/tiny_model.hpp"
#include "test_environment.hpp"

namespace inference::gguf {
namespace {

void write_shards(const std::filesystem::path& prefix, uint32_t count) {
  for (uint32_t i = 1; i <= count; ++i) {
    GgufBuilder b;
    b.set("general.architecture", "llama");
    b.set("split.count", static_cast<uint16_t>(count));
    b.write(prefix.string() + "-0000" + std::to_string(i) + "-of-0000" + std::to_string(count) + ".gguf");
  }
}

TEST(ModelDiscovery, ListsModelsSortedWithShardsGroupedAndFailuresExplained) {
  test::TempDir dir;
  write_tiny_model(dir / "b.gguf", 1);
  write_tiny_model(dir / "A.GGUF", 2);
  write_shards(dir / "split", 2);
  test::write_bytes(dir / "broken.gguf", std::vector<std::byte>(16, std::byte{'x'}));
  test::write_bytes(dir / "notes.txt", std::vector<std::byte>(4));

  const auto models = discover_models(dir.path(), false);
  ASSERT_EQ(models.size(), 4U);
  EXPECT_EQ(models[0].path.filename(), "A.GGUF");
  EXPECT_EQ(models[1].path.filename(), "b.gguf");
  EXPECT_EQ(models[2].path.filename(), "broken.gguf");
  EXPECT_EQ(models[3].path.filename(), "split-00001-of-00002.gguf");
  EXPECT_TRUE(models[0].ok());
  EXPECT_TRUE(models[1].ok());
  EXPECT_FALSE(models[2].ok());
  EXPECT_EQ(models[2].error, make_error_code(errc::invalid_model));
  EXPECT_NE(models[2].reason.find("wrong magic"), std::string::npos) << models[2].reason;
  ASSERT_TRUE(models[3].ok());
  EXPECT_EQ(models[3].info->shards.size(), 2U);
}

TEST(ModelDiscovery, ReportsAShardWhoseFirstShardIsMissing) {
  test::TempDir dir;
  write_shards(dir / "split", 2);
  std::filesystem::remove(dir / "split-00001-of-00002.gguf");
  const auto models = discover_models(dir.path(), false);
  ASSERT_EQ(models.size(), 1U);
  EXPECT_FALSE(models[0].ok());
  EXPECT_NE(models[0].reason.find("first shard is missing"), std::string::npos) << models[0].reason;
}

TEST(ModelDiscovery, DescendsIntoSubdirectoriesOnlyWhenRecursive) {
  test::TempDir dir;
  std::filesystem::create_directories(dir / "sub/deeper");
  write_tiny_model(dir / "top.gguf", 1);
  write_tiny_model(dir / "sub/deeper/nested.gguf", 1);
  EXPECT_EQ(discover_models(dir.path(), false).size(), 1U);
  const auto all = discover_models(dir.path(), true);
  ASSERT_EQ(all.size(), 2U);
  EXPECT_EQ(all[0].path, dir / "sub/deeper/nested.gguf");
}

TEST(ModelDiscovery, FindsTheSharedModels) {
  const auto dir = test::models_dir();
  if (!dir) GTEST_SKIP() << "shared models directory not found (set INFERENCE_MODELS_DIR)";
  const auto models = discover_models(*dir, false);
  ASSERT_EQ(models.size(), 2U);
  EXPECT_TRUE(models[0].ok()) << models[0].reason;
  EXPECT_TRUE(models[1].ok()) << models[1].reason;
}

TEST(ModelDiscovery, MissingDirectoryIsModelNotFound) {
  test::TempDir dir;
  try {
    (void)discover_models(dir / "absent", true);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::model_not_found));
  }
}

}  // namespace
}  // namespace inference::gguf
