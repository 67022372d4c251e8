// libFuzzer target: the GGUF reader must turn any input into a GgufFile or an inference::Error,
// never a crash, a hang or an unbounded allocation.
#include <cstddef>
#include <cstdint>
#include <span>

#include "inference/error.hpp"
#include "inference/gguf/gguf_reader.hpp"
#include "inference/gguf/model_info_reader.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(data), size);
  try {
    const auto file = inference::gguf::parse_gguf(bytes, "fuzz.gguf");
    (void)inference::gguf::model_info_from(file);
  } catch (const inference::Error&) {
    // Rejection with a typed error is the expected outcome for most inputs.
  }
  return 0;
}
