#include "inference/gguf/gguf_value.hpp"

#include <gtest/gtest.h>

namespace inference::gguf {
namespace {

TEST(GgufValue, ReportsTheFileTypeCodeOfEachAlternative) {
  EXPECT_EQ(Value(uint8_t{1}).type(), ValueType::uint8);
  EXPECT_EQ(Value(int8_t{1}).type(), ValueType::int8);
  EXPECT_EQ(Value(uint16_t{1}).type(), ValueType::uint16);
  EXPECT_EQ(Value(int16_t{1}).type(), ValueType::int16);
  EXPECT_EQ(Value(uint32_t{1}).type(), ValueType::uint32);
  EXPECT_EQ(Value(int32_t{1}).type(), ValueType::int32);
  EXPECT_EQ(Value(1.0F).type(), ValueType::float32);
  EXPECT_EQ(Value(true).type(), ValueType::boolean);
  EXPECT_EQ(Value("s").type(), ValueType::string);
  EXPECT_EQ(Value(make_array(ValueType::uint8, {})).type(), ValueType::array);
  EXPECT_EQ(Value(uint64_t{1}).type(), ValueType::uint64);
  EXPECT_EQ(Value(int64_t{1}).type(), ValueType::int64);
  EXPECT_EQ(Value(1.0).type(), ValueType::float64);
}

TEST(GgufValue, AsUintWidensNonNegativeIntegersOnly) {
  EXPECT_EQ(Value(uint16_t{7}).as_uint(), 7U);
  EXPECT_EQ(Value(int32_t{7}).as_uint(), 7U);
  EXPECT_FALSE(Value(int32_t{-1}).as_uint());
  EXPECT_FALSE(Value(1.5F).as_uint());
  EXPECT_FALSE(Value("7").as_uint());
}

TEST(GgufValue, TypeNamesCoverEveryCodeAndNameUnknownOnes) {
  EXPECT_EQ(value_type_name(ValueType::float64), "float64");
  EXPECT_EQ(value_type_name(ValueType::boolean), "bool");
  EXPECT_EQ(value_type_name(static_cast<ValueType>(13)), "type_13");
}

}  // namespace
}  // namespace inference::gguf
