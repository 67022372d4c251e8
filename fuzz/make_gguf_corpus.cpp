// Writes the committed seed corpus for gguf_reader_fuzz: small, valid files from the project's
// own GGUF writer. Usage: make_gguf_corpus OUTPUT_DIR
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "inference/gguf/gguf_writer.hpp"
#include "inference/gguf/tiny_model.hpp"

namespace {

using namespace inference::gguf;

GgufBuilder every_value_type() {
  GgufBuilder b;
  b.set("general.architecture", "llama");
  b.set("u8", uint8_t{1});
  b.set("i8", int8_t{-1});
  b.set("u16", uint16_t{2});
  b.set("i16", int16_t{-2});
  b.set("u32", uint32_t{3});
  b.set("i32", int32_t{-3});
  b.set("f32", 0.5F);
  b.set("bool", true);
  b.set("str", "text");
  b.set("u64", uint64_t{4});
  b.set("i64", int64_t{-4});
  b.set("f64", 0.25);
  b.set("arr", make_array(ValueType::array, {make_array(ValueType::string, {"a", "b"})}));
  return b;
}

GgufBuilder small_tensors() {
  GgufBuilder b;
  b.set("general.architecture", "llama");
  b.set("general.alignment", uint32_t{16});
  b.add_tensor("f32", 0, {4, 2}, std::vector<std::byte>(32));
  b.add_tensor("q8", 8, {32}, std::vector<std::byte>(34));
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_gguf_corpus OUTPUT_DIR\n";
    return EXIT_FAILURE;
  }
  const std::filesystem::path out = argv[1];
  std::filesystem::create_directories(out);
  every_value_type().write(out / "every_value_type_v3.gguf", WriteOptions{3});
  every_value_type().write(out / "every_value_type_v2.gguf", WriteOptions{2});
  small_tensors().write(out / "small_tensors.gguf");
  TinyModelOptions tiny;
  tiny.embedding_length = 8;
  tiny.head_count = 2;
  tiny.head_count_kv = 1;
  tiny.feed_forward_length = 16;
  tiny.block_count = 1;
  write_tiny_model(out / "tiny_llama.gguf", 1, tiny);
  return EXIT_SUCCESS;
}
