// Tests for include/inference/gateway/model_catalog.hpp
#include "inference/gateway/model_catalog.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "inference/error.hpp"
#include "support/scratch_directory.hpp"

namespace inference::gateway {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

std::vector<std::pair<std::string, std::string>> pairs(const std::vector<ServedModel>& models) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& model : models) out.emplace_back(model.name, model.path);
  return out;
}

// The message of the invalid_argument Error that building the catalog throws.
std::string refusal(const std::vector<std::string>& models, const std::string& dir,
                    const std::vector<std::string>& aliases) {
  try {
    build_catalog(models, dir, aliases);
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "build_catalog accepted the flags";
  return {};
}

void touch(const fs::path& file) { std::ofstream(file) << "GGUF"; }

TEST(ModelCatalogTest, ModelFlagsAreServedUnderTheirStemsSortedByName) {
  const auto models = build_catalog({"/m/zeta.gguf", "/m/llama-2-tiny-random.gguf", "stub"}, "", {});
  using Pair = std::pair<std::string, std::string>;
  EXPECT_EQ(pairs(models),
            (std::vector<Pair>{
                {"llama-2-tiny-random", "/m/llama-2-tiny-random.gguf"}, {"stub", "stub"}, {"zeta", "/m/zeta.gguf"}}));
}

TEST(ModelCatalogTest, ModelsDirectoryServesEveryGgufAndOnlyTheFirstSplitPart) {
  test::ScratchDirectory dir("catalog");
  touch(dir.path() / "b.gguf");
  touch(dir.path() / "a.gguf");
  touch(dir.path() / "notes.txt");
  touch(dir.path() / "big-00001-of-00003.gguf");
  touch(dir.path() / "big-00002-of-00003.gguf");
  touch(dir.path() / "big-00003-of-00003.gguf");
  fs::create_directory(dir.path() / "dir.gguf");  // not a file
  const auto models = build_catalog({}, dir.path().string(), {});
  using Pair = std::pair<std::string, std::string>;
  EXPECT_EQ(pairs(models), (std::vector<Pair>{{"a", (dir.path() / "a.gguf").string()},
                                              {"b", (dir.path() / "b.gguf").string()},
                                              {"big", (dir.path() / "big-00001-of-00003.gguf").string()}}));
}

TEST(ModelCatalogTest, AliasAddsANameEvenForAFileServedUnderItsStem) {
  const auto models = build_catalog({"/m/tiny.gguf"}, "", {"chat=/m/tiny.gguf", "gpt-4o=/m/other.gguf"});
  using Pair = std::pair<std::string, std::string>;
  EXPECT_EQ(pairs(models),
            (std::vector<Pair>{{"chat", "/m/tiny.gguf"}, {"gpt-4o", "/m/other.gguf"}, {"tiny", "/m/tiny.gguf"}}));
}

TEST(ModelCatalogTest, AliasWithoutNameEqualsPathIsRefusedNamingTheFlag) {
  EXPECT_THAT(refusal({}, "", {"x"}), HasSubstr("--alias 'x': expected NAME=PATH"));
  EXPECT_THAT(refusal({}, "", {"=/m/a.gguf"}), HasSubstr("--alias '=/m/a.gguf': expected NAME=PATH"));
  EXPECT_THAT(refusal({}, "", {"x="}), HasSubstr("--alias 'x=': expected NAME=PATH"));
}

TEST(ModelCatalogTest, TwoModelsUnderOneNameAreRefusedNamingBothOrigins) {
  const std::string message = refusal({"/a/x.gguf"}, "", {"x=/b/y.gguf"});
  EXPECT_THAT(message, HasSubstr("duplicate model name 'x'"));
  EXPECT_THAT(message, HasSubstr("--model '/a/x.gguf'"));
  EXPECT_THAT(message, HasSubstr("--alias 'x=/b/y.gguf'"));
  EXPECT_THAT(refusal({"/a/x.gguf", "/b/x.gguf"}, "", {}), HasSubstr("duplicate model name 'x'"));
}

TEST(ModelCatalogTest, ModelsDirectoryWithoutGgufIsRefused) {
  test::ScratchDirectory dir("catalog-empty");
  touch(dir.path() / "readme.md");
  touch(dir.path() / "big-00002-of-00003.gguf");  // a part that is not a model by itself
  EXPECT_THAT(refusal({}, dir.path().string(), {}),
              HasSubstr("--models '" + dir.path().string() + "': no *.gguf files"));
}

TEST(ModelCatalogTest, UnreadableModelsDirectoryIsRefusedWithTheReason) {
  const std::string message = refusal({}, "/nonexistent/models", {});
  EXPECT_THAT(message, HasSubstr("--models '/nonexistent/models': cannot read the directory"));
}

TEST(ModelCatalogTest, NoModelAtAllIsRefused) {
  EXPECT_THAT(refusal({}, "", {}), HasSubstr("no model to serve"));
  EXPECT_THAT(refusal({""}, "", {}), HasSubstr("--model '': expected a path"));
}

TEST(ModelCatalogTest, ModelOptionsGoToTheNamedModelOnly) {
  std::vector<ServedModel> models{{"a", "a.gguf"}, {"b", "b.gguf"}};
  apply_model_options(models, {"b:embeddings=true", "b:pooling=mean", "a:x=1=2"});
  EXPECT_EQ(models[0].backend_options, (std::map<std::string, std::string>{{"x", "1=2"}}));
  EXPECT_EQ(models[1].backend_options,
            (std::map<std::string, std::string>{{"embeddings", "true"}, {"pooling", "mean"}}));
  for (const char* bad : {"embeddings=true", ":k=v", "b:=v", "b:k", "c:k=v"}) {
    try {
      apply_model_options(models, {bad});
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
      EXPECT_NE(std::string(e.what()).find("--model-opt"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace inference::gateway
