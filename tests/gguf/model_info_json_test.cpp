#include "inference/gguf/model_info_json.hpp"

#include <gtest/gtest.h>

#include "inference/error.hpp"

namespace inference::gguf {
namespace {

TEST(ModelInfoJson, RendersEveryField) {
  inference::ModelInfo info;
  info.path = "/m/x.gguf";
  info.architecture = "llama";
  info.file_type = "Q8_0";
  info.file_type_id = 7;
  info.vocab_size = 32000;
  info.shards = {"/m/x.gguf"};
  const auto json = to_json(info);
  EXPECT_EQ(json.at("architecture").as_string(), "llama");
  EXPECT_EQ(json.at("file_type_id").to_number<int64_t>(), 7);
  EXPECT_EQ(json.at("vocab_size").as_uint64(), 32000U);
  EXPECT_EQ(json.at("shards").as_array().size(), 1U);
  EXPECT_EQ(json.size(), 20U);
}

TEST(ModelInfoJson, AbsentFileTypeIsNull) { EXPECT_TRUE(to_json(inference::ModelInfo{}).at("file_type_id").is_null()); }

TEST(ModelInfoJson, FailedDiscoveryCarriesTheErrorName) {
  DiscoveredModel failed;
  failed.path = "/m/bad.gguf";
  failed.error = make_error_code(errc::invalid_model);
  failed.reason = "/m/bad.gguf: wrong magic";
  const auto json = to_json(failed);
  EXPECT_FALSE(json.at("ok").as_bool());
  EXPECT_EQ(json.at("error").as_string(), "invalid_model");
  EXPECT_EQ(json.at("reason").as_string(), "/m/bad.gguf: wrong magic");
}

}  // namespace
}  // namespace inference::gguf
