// Bounds the GGUF reader enforces before it allocates anything, so a hostile or corrupt file is
// rejected with an error instead of exhausting memory. Plain value type.
#pragma once

#include <cstdint>

namespace inference::gguf {

struct ReaderLimits {
  // Longest string (key, value, tensor name). Chat templates are the longest real strings
  // (tens of KB); 16 MiB leaves room for any plausible one.
  static constexpr uint64_t kDefaultMaxStringLength = uint64_t{16} << 20;
  // Largest array. Real vocabularies and merge lists stay below ~1M entries.
  static constexpr uint64_t kDefaultMaxArrayElements = uint64_t{16} << 20;
  // Most metadata keys. Real models carry a few dozen.
  static constexpr uint64_t kDefaultMaxKeyCount = uint64_t{1} << 16;
  // Most tensors. Large mixture-of-experts models have a few thousand.
  static constexpr uint64_t kDefaultMaxTensorCount = uint64_t{1} << 20;
  // ggml tensors have at most 4 dimensions (GGML_MAX_DIMS).
  static constexpr uint32_t kDefaultMaxDimensions = 4;
  // Arrays of arrays nest at most this deep; the format allows nesting but no real file uses
  // more than one level, and a bound keeps the recursive parser's stack small.
  static constexpr uint32_t kDefaultMaxArrayDepth = 8;
  // Largest general.alignment accepted (must also be a power of two).
  static constexpr uint32_t kDefaultMaxAlignment = uint32_t{1} << 16;

  uint64_t max_string_length = kDefaultMaxStringLength;
  uint64_t max_array_elements = kDefaultMaxArrayElements;
  uint64_t max_key_count = kDefaultMaxKeyCount;
  uint64_t max_tensor_count = kDefaultMaxTensorCount;
  uint32_t max_dimensions = kDefaultMaxDimensions;
  uint32_t max_array_depth = kDefaultMaxArrayDepth;
  uint32_t max_alignment = kDefaultMaxAlignment;
};

}  // namespace inference::gguf
