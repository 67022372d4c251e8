// The parsed structure of a GGUF file: header, key/value metadata in file order and the tensor
// directory. Tensor data is never part of it. Plain value type; safe to share when not mutated.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inference/gguf/gguf_value.hpp"

namespace inference::gguf {

// "GGUF" read as a little-endian uint32.
inline constexpr uint32_t kMagic = 0x46554747;
// Versions the reader and writer support. Version 1 (32-bit counts) is obsolete and rejected.
inline constexpr uint32_t kMinVersion = 2;
inline constexpr uint32_t kMaxVersion = 3;
// Tensor data alignment when general.alignment is absent.
inline constexpr uint32_t kDefaultAlignment = 32;
inline constexpr std::string_view kAlignmentKey = "general.alignment";

struct TensorInfo {
  std::string name;
  std::vector<uint64_t> dims;  // ne[0] first (the innermost, contiguous dimension)
  uint32_t type = 0;           // ggml tensor type code (see tensor_type.hpp)
  uint64_t offset = 0;         // relative to the start of the tensor data section
  uint64_t size_bytes = 0;     // computed from dims and type

  bool operator==(const TensorInfo&) const = default;
};

struct GgufFile {
  std::filesystem::path path;
  uint32_t version = 0;
  uint32_t alignment = kDefaultAlignment;
  std::vector<std::pair<std::string, Value>> metadata;  // file order; keys are unique
  std::vector<TensorInfo> tensors;                      // file order; names are unique
  uint64_t data_offset = 0;                             // absolute offset of the tensor data section
  uint64_t file_size = 0;
  uint64_t bytes_read = 0;  // bytes the reader actually read from disk (metadata only)

  // The value of a key, or nullptr.
  const Value* find(std::string_view key) const noexcept;
  // Sum of all tensors' sizes.
  uint64_t tensor_bytes() const noexcept;
};

}  // namespace inference::gguf
