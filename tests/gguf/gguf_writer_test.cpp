#include "inference/gguf/gguf_writer.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <iterator>

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

// Zero tensors are holes in the written file: the same bytes as written zeros, without the disk
// space (the 3885 MiB model of the memory fit tests takes a few KiB).
TEST(GgufWriter, ZeroTensorsAreHolesThatReadAsZeros) {
  test::TempDir dir;
  constexpr uint64_t kBig = 64ull << 20;  // elements of f32: 256 MiB
  GgufBuilder sparse;
  sparse.add_tensor(
      "a", 0, {3},
      std::vector<std::byte>{std::byte{1}, std::byte{2}, std::byte{3}, std::byte{4}, std::byte{5}, std::byte{6},
                             std::byte{7}, std::byte{8}, std::byte{9}, std::byte{10}, std::byte{11}, std::byte{12}});
  sparse.add_zero_tensor("big", 0, {kBig});
  sparse.write(dir / "sparse.gguf");
  const auto file = read_gguf(dir / "sparse.gguf");
  ASSERT_EQ(file.tensors.size(), 2U);
  EXPECT_EQ(file.tensors[1].size_bytes, kBig * 4);
  EXPECT_EQ(file.tensor_bytes(), kBig * 4 + 12);
  EXPECT_EQ(file.file_size, file.data_offset + file.tensors[1].offset + kBig * 4);
  struct stat status {};
  ASSERT_EQ(::stat((dir / "sparse.gguf").c_str(), &status), 0);
  EXPECT_LT(static_cast<uint64_t>(status.st_blocks) * 512, 1ull << 20) << "the zeros took disk space";

  GgufBuilder small;
  small.add_zero_tensor("z", 0, {5});
  small.add_tensor("after", 0, {1}, std::vector<std::byte>(4, std::byte{7}));
  small.write(dir / "small.gguf");
  std::ifstream in(dir / "small.gguf", std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::vector<std::byte> image = small.serialize();
  ASSERT_EQ(bytes.size(), image.size());
  EXPECT_TRUE(std::equal(image.begin(), image.end(), bytes.begin(),
                         [](std::byte a, char b) { return a == static_cast<std::byte>(b); }));
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
