#include "inference/gguf/file_type.hpp"

#include <gtest/gtest.h>

#include "inference/gguf/tensor_type.hpp"

namespace inference::gguf {
namespace {

TEST(FileType, NamesCommonQuantisations) {
  EXPECT_EQ(file_type_name(0), "F32");
  EXPECT_EQ(file_type_name(1), "F16");
  EXPECT_EQ(file_type_name(7), "Q8_0");
  EXPECT_EQ(file_type_name(15), "Q4_K_M");
  EXPECT_EQ(file_type_name(18), "Q6_K");
  EXPECT_EQ(file_type_name(32), "BF16");
}

TEST(FileType, UnknownAndRemovedIdsAreNamedTypeN) {
  EXPECT_EQ(file_type_name(4), "type_4");
  EXPECT_EQ(file_type_name(1000), "type_1000");
  EXPECT_EQ(file_type_bits_per_weight(1000), 0.0);
}

TEST(FileType, BitsPerWeightFollowTheMainTensorType) {
  EXPECT_DOUBLE_EQ(file_type_bits_per_weight(0), 32.0);
  EXPECT_DOUBLE_EQ(file_type_bits_per_weight(1), 16.0);
  EXPECT_DOUBLE_EQ(file_type_bits_per_weight(7), 8.5);
  EXPECT_DOUBLE_EQ(file_type_bits_per_weight(2), 4.5);
  EXPECT_DOUBLE_EQ(file_type_bits_per_weight(15), 4.5);
  EXPECT_DOUBLE_EQ(file_type_bits_per_weight(18), 6.5625);
}

TEST(TensorType, KnowsBlockLayoutsAndRejectsRemovedCodes) {
  ASSERT_TRUE(tensor_type_traits(12));
  EXPECT_EQ(tensor_type_traits(12)->name, "Q4_K");
  EXPECT_EQ(tensor_type_traits(12)->block_size, 256U);
  EXPECT_EQ(tensor_type_traits(12)->type_size, 144U);
  EXPECT_FALSE(tensor_type_traits(4));
  EXPECT_FALSE(tensor_type_traits(31));
  EXPECT_FALSE(tensor_type_traits(4000));
}

}  // namespace
}  // namespace inference::gguf
