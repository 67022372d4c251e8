#include "inference/gguf/gguf_writer.hpp"

#include <gtest/gtest.h>

#include "inference/error.hpp"
#include "inference/gguf/gguf_reader.hpp"
#include "test_environment.hpp"

namespace inference::gguf {
namespace {

// One key per value type, plus nested and empty arrays.
GgufBuilder every_value_type() {
  GgufBuilder b;
  b.set("t.uint8", uint8_t{200});
  b.set("t.int8", int8_t{-100});
  b.set("t.uint16", uint16_t{60000});
  b.set("t.int16", int16_t{-30000});
  b.set("t.uint32", uint32_t{4000000000U});
  b.set("t.int32", int32_t{-2000000000});
  b.set("t.float32", 3.25F);
  b.set("t.bool", true);
  b.set("t.string", "h\xC3\xA9llo");
  b.set("t.uint64", uint64_t{18000000000000000000ULL});
  b.set("t.int64", int64_t{-9000000000000000000LL});
  b.set("t.float64", -2.5e300);
  b.set("t.array.string", make_array(ValueType::string, {"a", "", "ccc"}));
  b.set("t.array.float32", make_array(ValueType::float32, {1.0F, -0.5F}));
  b.set("t.array.empty", make_array(ValueType::int64, {}));
  b.set("t.array.nested", make_array(ValueType::array, {make_array(ValueType::uint8, {uint8_t{1}, uint8_t{2}}),
                                                        make_array(ValueType::uint8, {})}));
  return b;
}

void expect_round_trip(uint32_t version) {
  const auto builder = every_value_type();
  const auto image = builder.serialize(WriteOptions{version});
  const auto file = parse_gguf(image, "mem.gguf");
  EXPECT_EQ(file.version, version);
  EXPECT_EQ(file.metadata, builder.metadata());
  EXPECT_TRUE(file.tensors.empty());
}

TEST(GgufWriter, EveryValueTypeRoundTripsInVersion3) { expect_round_trip(3); }

TEST(GgufWriter, EveryValueTypeRoundTripsInVersion2) { expect_round_trip(2); }

TEST(GgufWriter, TensorsAreAlignedAndRoundTripThroughAFile) {
  test::TempDir dir;
  GgufBuilder b;
  b.set("general.alignment", uint32_t{64});
  b.add_tensor("a", 0, {3}, std::vector<std::byte>(12));
  b.add_tensor("b", 1, {2, 5}, std::vector<std::byte>(20));
  b.write(dir / "t.gguf");
  const auto file = read_gguf(dir / "t.gguf");
  EXPECT_EQ(file.alignment, 64U);
  ASSERT_EQ(file.tensors.size(), 2U);
  EXPECT_EQ(file.data_offset % 64, 0U);
  EXPECT_EQ(file.tensors[0].offset, 0U);
  EXPECT_EQ(file.tensors[1].offset, 64U);
  EXPECT_EQ(file.tensors[1].dims, (std::vector<uint64_t>{2, 5}));
  EXPECT_EQ(file.tensors[1].size_bytes, 20U);
  EXPECT_EQ(file.tensor_bytes(), 32U);
}

TEST(GgufWriter, SettingAnExistingKeyKeepsItsPosition) {
  GgufBuilder b;
  b.set("a", uint32_t{1});
  b.set("b", uint32_t{2});
  b.set("a", uint32_t{3});
  ASSERT_EQ(b.metadata().size(), 2U);
  EXPECT_EQ(b.metadata()[0].first, "a");
  EXPECT_EQ(b.metadata()[0].second, Value(uint32_t{3}));
}

TEST(GgufWriter, RejectsTensorDataOfTheWrongSize) {
  GgufBuilder b;
  EXPECT_THROW(b.add_tensor("a", 0, {3}, std::vector<std::byte>(11)), Error);
}

TEST(GgufWriter, RejectsArrayElementsOfAnotherType) {
  GgufBuilder b;
  b.set("mixed", make_array(ValueType::uint8, {uint8_t{1}, "two"}));
  EXPECT_THROW((void)b.serialize(), Error);
}

TEST(GgufWriter, RejectsUnsupportedVersions) {
  GgufBuilder b;
  EXPECT_THROW((void)b.serialize(WriteOptions{1}), Error);
  EXPECT_THROW((void)b.serialize(WriteOptions{4}), Error);
}

}  // namespace
}  // namespace inference::gguf
