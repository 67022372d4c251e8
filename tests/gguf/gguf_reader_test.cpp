#include "inference/gguf/gguf_reader.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>

#include <gtest/gtest.h>

#include "inference/error.hpp"
#include "inference/gguf/gguf_writer.hpp"
#include "inference/gguf/tiny_model.hpp"
#include "raw_gguf.hpp"
#include "test_environment.hpp"

namespace inference::gguf {
namespace {

using test::RawGguf;

constexpr uint32_t kF32 = 0;
constexpr uint32_t kArray = static_cast<uint32_t>(ValueType::array);
constexpr uint32_t kUint8 = static_cast<uint32_t>(ValueType::uint8);
constexpr uint32_t kUint32 = static_cast<uint32_t>(ValueType::uint32);

// Writes bytes to a file, reads it, and returns the error message (failing if it parses).
std::string read_error(const std::vector<std::byte>& bytes, errc expected = errc::invalid_model) {
  test::TempDir dir;
  const auto path = dir / "bad.gguf";
  test::write_bytes(path, bytes);
  try {
    (void)read_gguf(path);
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(expected)) << e.what();
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "file was accepted";
  return {};
}

std::vector<std::byte> small_valid_file() {
  GgufBuilder b;
  b.set("general.architecture", "llama");
  b.set("general.name", "x");
  b.set("list", make_array(ValueType::string, {"a", "bb"}));
  b.add_tensor("w", kF32, {4}, std::vector<std::byte>(16));
  return b.serialize();
}

TEST(GgufReader, ReadsTheSharedTinyLlamaModel) {
  const auto dir = test::models_dir();
  if (!dir) GTEST_SKIP() << "shared models directory not found (set INFERENCE_MODELS_DIR)";
  const auto file = read_gguf(*dir / "llama-2-tiny-random.gguf");
  EXPECT_EQ(file.version, 3U);
  ASSERT_NE(file.find("general.architecture"), nullptr);
  EXPECT_EQ(*file.find("general.architecture")->as_string(), "llama");
  ASSERT_NE(file.find("tokenizer.ggml.tokens"), nullptr);
  EXPECT_EQ(file.find("tokenizer.ggml.tokens")->as_array()->items.size(), 32000U);
  EXPECT_GT(file.tensors.size(), 0U);
  EXPECT_LE(file.data_offset + file.tensor_bytes(), file.file_size);
}

TEST(GgufReader, ReadsTheSharedVocabularyOnlyFile) {
  const auto dir = test::models_dir();
  if (!dir) GTEST_SKIP() << "shared models directory not found (set INFERENCE_MODELS_DIR)";
  const auto file = read_gguf(*dir / "ggml-vocab-llama-spm.gguf");
  EXPECT_TRUE(file.tensors.empty());
  EXPECT_EQ(file.find("tokenizer.ggml.tokens")->as_array()->items.size(), 32000U);
  EXPECT_EQ(file.find("tokenizer.ggml.scores")->as_array()->element_type, ValueType::float32);
}

TEST(GgufReader, ParsesFromMemoryLikeFromDisk) {
  const auto image = small_valid_file();
  const auto file = parse_gguf(image, "mem.gguf");
  EXPECT_EQ(file.metadata.size(), 3U);
  EXPECT_EQ(file.tensors.at(0).name, "w");
  EXPECT_EQ(file.file_size, image.size());
}

TEST(GgufReader, RejectsWrongMagic) {
  auto bytes = small_valid_file();
  bytes[0] = std::byte{'X'};
  EXPECT_NE(read_error(bytes).find("wrong magic"), std::string::npos);
}

TEST(GgufReader, RejectsUnknownVersion) {
  const auto msg = read_error(RawGguf().header(4, 0, 0).bytes());
  EXPECT_NE(msg.find("unsupported GGUF version 4"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsObsoleteVersion1) {
  const auto msg = read_error(RawGguf().header(1, 0, 0).bytes());
  EXPECT_NE(msg.find("unsupported GGUF version 1"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsBigEndianFilesByName) {
  const auto msg = read_error(RawGguf().header(0x03000000, 0, 0).bytes());
  EXPECT_NE(msg.find("big-endian"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsTruncationAtEveryByte) {
  const auto image = small_valid_file();
  for (std::size_t length = 1; length < image.size(); ++length) {
    const std::span<const std::byte> prefix(image.data(), length);
    try {
      (void)parse_gguf(prefix, "cut.gguf");
      // The last tensor's padding may be cut without losing data; anything shorter must fail.
      EXPECT_GE(length, image.size() - kDefaultAlignment) << "accepted at length " << length;
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_model)) << e.what();
    }
  }
}

TEST(GgufReader, TruncationMessageNamesTheByteAndTheKey) {
  auto raw = RawGguf().header(3, 0, 2).str("a").u32(kUint32).u32(1).str("second").u32(10).u8(1).u8(2);
  const auto msg = read_error(raw.bytes());
  EXPECT_NE(msg.find("truncated at byte " + std::to_string(raw.size())), std::string::npos) << msg;
  EXPECT_NE(msg.find("key 2 of 2 ('second')"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsAbsurdStringLengthBeforeAllocating) {
  const auto msg = read_error(RawGguf().header(3, 0, 1).u64(uint64_t{1} << 60).zeros(64).bytes());
  EXPECT_NE(msg.find("string length"), std::string::npos) << msg;
  EXPECT_NE(msg.find("max_string_length"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsStringLongerThanTheRestOfTheFile) {
  const auto msg = read_error(RawGguf().header(3, 0, 1).u64(1000).zeros(64).bytes());
  EXPECT_NE(msg.find("cannot fit"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsTrillionElementArrayInASmallFileBeforeAllocating) {
  auto raw = RawGguf().header(3, 0, 1).str("big").u32(kArray).u32(kUint8).u64(1'000'000'000'000ULL);
  raw.zeros(std::size_t{1} << 20);
  ReaderLimits generous;
  generous.max_array_elements = UINT64_MAX;
  try {
    (void)parse_gguf(raw.bytes(), "big.gguf", generous);
    FAIL() << "accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("array length 1000000000000 cannot fit"), std::string::npos) << e.what();
  }
}

TEST(GgufReader, RejectsArrayAboveTheElementLimit) {
  auto raw = RawGguf().header(3, 0, 1).str("big").u32(kArray).u32(kUint8).u64(100).zeros(100);
  ReaderLimits limits;
  limits.max_array_elements = 10;
  EXPECT_THROW((void)parse_gguf(raw.bytes(), "big.gguf", limits), Error);
  EXPECT_NO_THROW((void)parse_gguf(raw.bytes(), "big.gguf"));
}

TEST(GgufReader, RejectsAbsurdKeyCount) {
  const auto msg = read_error(RawGguf().header(3, 0, uint64_t{1} << 40).zeros(64).bytes());
  EXPECT_NE(msg.find("key count"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsAbsurdTensorCount) {
  const auto msg = read_error(RawGguf().header(3, uint64_t{1} << 40, 0).zeros(64).bytes());
  EXPECT_NE(msg.find("tensor count"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsTensorCountTheFileCannotHold) {
  const auto msg = read_error(RawGguf().header(3, 1000, 0).zeros(64).bytes());
  EXPECT_NE(msg.find("tensor count 1000 cannot fit"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsValueTypeOutOfRange) {
  const auto msg = read_error(RawGguf().header(3, 0, 1).str("k").u32(13).u32(0).bytes());
  EXPECT_NE(msg.find("value type code 13 out of range"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsArrayElementTypeOutOfRange) {
  const auto msg = read_error(RawGguf().header(3, 0, 1).str("k").u32(kArray).u32(0xFFFFFFFF).u64(0).bytes());
  EXPECT_NE(msg.find("array element type code 4294967295 out of range"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsArraysNestedBeyondTheDepthLimit) {
  RawGguf raw;
  raw.header(3, 0, 1).str("deep").u32(kArray);
  for (int i = 0; i < 20; ++i) raw.u32(kArray).u64(1);
  raw.u32(kUint8).u64(0);
  const auto msg = read_error(raw.bytes());
  EXPECT_NE(msg.find("max_array_depth"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsDuplicateKeys) {
  const auto msg = read_error(RawGguf().header(3, 0, 2).str("k").u32(kUint8).u8(1).str("k").u32(kUint8).u8(2).bytes());
  EXPECT_NE(msg.find("duplicate key 'k'"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsInvalidBoolean) {
  const auto msg = read_error(RawGguf().header(3, 0, 1).str("b").u32(7).u8(2).bytes());
  EXPECT_NE(msg.find("bool value 2"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsAlignmentThatIsNotAPowerOfTwo) {
  const auto msg = read_error(RawGguf().header(3, 0, 1).str("general.alignment").u32(kUint32).u32(48).bytes());
  EXPECT_NE(msg.find("not a power of two"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsTooManyDimensions) {
  auto raw = RawGguf().header(3, 1, 0).str("t").u32(5);
  for (int i = 0; i < 5; ++i) raw.i64(1);
  raw.u32(kF32).u64(0).zeros(64);
  const auto msg = read_error(raw.bytes());
  EXPECT_NE(msg.find("dimension count 5"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tensor 1 of 1 ('t')"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsNegativeDimension) {
  const auto msg = read_error(RawGguf().header(3, 1, 0).str("t").u32(1).i64(-4).u32(kF32).u64(0).zeros(64).bytes());
  EXPECT_NE(msg.find("negative dimension"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsUnknownTensorType) {
  const auto msg = read_error(RawGguf().header(3, 1, 0).str("t").u32(1).i64(4).u32(4).u64(0).zeros(64).bytes());
  EXPECT_NE(msg.find("unknown tensor type 4"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsDimensionsWhoseSizeOverflows) {
  const auto msg = read_error(RawGguf()
                                  .header(3, 1, 0)
                                  .str("t")
                                  .u32(3)
                                  .i64(int64_t{1} << 40)
                                  .i64(int64_t{1} << 40)
                                  .i64(4)
                                  .u32(kF32)
                                  .u64(0)
                                  .zeros(64)
                                  .bytes());
  EXPECT_NE(msg.find("overflows"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsTensorOffsetBeyondTheFile) {
  const auto msg =
      read_error(RawGguf().header(3, 1, 0).str("t").u32(1).i64(4).u32(kF32).u64(1 << 20).zeros(64).bytes());
  EXPECT_NE(msg.find("extends beyond the end of the file"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsTensorDataRunningPastTheEnd) {
  auto bytes = small_valid_file();
  bytes.resize(bytes.size() - kDefaultAlignment + 8);  // cut into the 16 bytes of data
  const auto msg = read_error(bytes);
  EXPECT_NE(msg.find("tensor 1 of 1 ('w')"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsMisalignedTensorOffset) {
  const auto msg = read_error(RawGguf().header(3, 1, 0).str("t").u32(1).i64(4).u32(kF32).u64(4).zeros(128).bytes());
  EXPECT_NE(msg.find("not a multiple of the alignment"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsDuplicateTensorNames) {
  auto raw = RawGguf().header(3, 2, 0);
  raw.str("t").u32(1).i64(8).u32(kF32).u64(0);
  raw.str("t").u32(1).i64(8).u32(kF32).u64(32);
  raw.zeros(128);
  const auto msg = read_error(raw.bytes());
  EXPECT_NE(msg.find("duplicate tensor name 't'"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsEmptyFile) {
  const auto msg = read_error({});
  EXPECT_NE(msg.find("empty file"), std::string::npos) << msg;
}

TEST(GgufReader, RejectsDirectory) {
  test::TempDir dir;
  std::filesystem::create_directory(dir / "model.gguf");
  try {
    (void)read_gguf(dir / "model.gguf");
    FAIL() << "accepted a directory";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_model));
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos) << e.what();
  }
}

TEST(GgufReader, RejectsUnreadableFile) {
  if (::geteuid() == 0) {
    GTEST_SKIP() << "running as root: permission bits do not stop reads, cannot test EACCES";
  }
  test::TempDir dir;
  const auto path = dir / "locked.gguf";
  test::write_bytes(path, small_valid_file());
  std::filesystem::permissions(path, std::filesystem::perms::none);
  try {
    (void)read_gguf(path);
    FAIL() << "read an unreadable file";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_model));
    EXPECT_NE(std::string(e.what()).find("cannot open"), std::string::npos) << e.what();
  }
}

TEST(GgufReader, RejectsFifoWithoutBlocking) {
  test::TempDir dir;
  const auto path = dir / "pipe.gguf";
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  try {
    (void)read_gguf(path);
    FAIL() << "accepted a FIFO";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a regular file"), std::string::npos) << e.what();
  }
}

TEST(GgufReader, MissingFileIsModelNotFound) {
  test::TempDir dir;
  try {
    (void)read_gguf(dir / "absent.gguf");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::model_not_found)) << e.what();
  }
}

// rchar from /proc/self/io: bytes this process has read through read(2) and friends.
uint64_t process_read_bytes() {
  std::ifstream io("/proc/self/io");
  std::string key;
  uint64_t value = 0;
  while (io >> key >> value) {
    if (key == "rchar:") return value;
  }
  return 0;
}

TEST(GgufReader, ReadsOnlyMetadataOfAMultiGigabyteSparseFile) {
  test::TempDir dir;
  const auto path = dir / "huge.gguf";
  // The tiny model's metadata, followed by one declared 4.5 GB F32 tensor that is a hole.
  constexpr uint64_t kHugeElements = uint64_t{1125} << 20;  // 4.5 GiB of F32
  auto builder = make_tiny_model(1);
  GgufBuilder header_only;
  for (const auto& [key, value] : builder.metadata()) header_only.set(key, value);
  auto image = header_only.serialize();
  test::patch_u64(image, 8, 1);
  RawGguf info;
  info.str("huge.weight").u32(1).i64(static_cast<int64_t>(kHugeElements)).u32(kF32).u64(0);
  image.insert(image.end(), info.bytes().begin(), info.bytes().end());
  test::write_bytes(path, image);
  const uint64_t data_offset = (image.size() + kDefaultAlignment - 1) / kDefaultAlignment * kDefaultAlignment;
  const uint64_t total = data_offset + kHugeElements * sizeof(float);
  ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(total)), 0);

  const uint64_t rchar_before = process_read_bytes();
  const auto start = std::chrono::steady_clock::now();
  const auto file = read_gguf(path);
  const auto elapsed = std::chrono::steady_clock::now() - start;
  const uint64_t rchar = process_read_bytes() - rchar_before;

  EXPECT_EQ(file.file_size, total);
  EXPECT_EQ(file.tensors.at(0).size_bytes, kHugeElements * sizeof(float));
  EXPECT_LT(file.bytes_read, uint64_t{1} << 20);
  EXPECT_LT(rchar, uint64_t{2} << 20);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(elapsed).count();
  EXPECT_LT(micros, 2'000'000);
  std::cout << "sparse file of " << total << " bytes: read_gguf took " << micros << " us, reader read "
            << file.bytes_read << " bytes, /proc/self/io rchar grew by " << rchar << " bytes\n";
  RecordProperty("sparse_read_us", std::to_string(micros));
  RecordProperty("sparse_bytes_read", std::to_string(file.bytes_read));
}

}  // namespace
}  // namespace inference::gguf
