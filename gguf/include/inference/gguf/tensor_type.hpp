// ggml tensor element types as stored in GGUF tensor infos, with the block layout needed to
// compute a tensor's size in bytes. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace inference::gguf {

// Storage layout of one ggml tensor type: block_size elements are stored in type_size bytes.
struct TensorTypeTraits {
  std::string_view name;  // "F32", "Q4_K", ...
  uint32_t block_size = 0;
  uint32_t type_size = 0;

  double bits_per_weight() const noexcept { return block_size == 0 ? 0.0 : 8.0 * type_size / block_size; }
};

// Commonly used codes (the full table lives in tensor_type.cpp).
enum class TensorType : uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q8_0 = 8,
  q4_k = 12,
  q6_k = 14,
  bf16 = 30,
};

// Layout of a tensor type code, or nullopt for codes that are unknown or were removed from ggml
// (such a tensor's size cannot be computed, so the reader rejects it).
std::optional<TensorTypeTraits> tensor_type_traits(uint32_t code) noexcept;

}  // namespace inference::gguf
