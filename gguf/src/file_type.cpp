#include "inference/gguf/file_type.hpp"

#include <array>
#include <string_view>

#include "inference/gguf/tensor_type.hpp"

namespace inference::gguf {
namespace {

struct FileTypeEntry {
  std::string_view name;  // empty: id unused or removed from llama.cpp
  uint32_t main_tensor_type = 0;
};

// Tensor type codes referenced below (see tensor_type.cpp for the full table).
enum : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kIQ1_M = 29,
  kBF16 = 30,
  kTQ1_0 = 34,
  kTQ2_0 = 35,
  kMXFP4 = 39,
};

// Indexed by general.file_type (llama.cpp's llama_ftype).
constexpr std::array<FileTypeEntry, 39> kFileTypes{{
    {"F32", kF32},          // 0
    {"F16", kF16},          // 1
    {"Q4_0", kQ4_0},        // 2
    {"Q4_1", kQ4_1},        // 3
    {"", 0},                // 4: Q4_1_SOME_F16, removed
    {"", 0},                // 5: Q4_2, removed
    {"", 0},                // 6: Q4_3, removed
    {"Q8_0", kQ8_0},        // 7
    {"Q5_0", kQ5_0},        // 8
    {"Q5_1", kQ5_1},        // 9
    {"Q2_K", kQ2_K},        // 10
    {"Q3_K_S", kQ3_K},      // 11
    {"Q3_K_M", kQ3_K},      // 12
    {"Q3_K_L", kQ3_K},      // 13
    {"Q4_K_S", kQ4_K},      // 14
    {"Q4_K_M", kQ4_K},      // 15
    {"Q5_K_S", kQ5_K},      // 16
    {"Q5_K_M", kQ5_K},      // 17
    {"Q6_K", kQ6_K},        // 18
    {"IQ2_XXS", kIQ2_XXS},  // 19
    {"IQ2_XS", kIQ2_XS},    // 20
    {"Q2_K_S", kQ2_K},      // 21
    {"IQ3_XS", kIQ3_S},     // 22
    {"IQ3_XXS", kIQ3_XXS},  // 23
    {"IQ1_S", kIQ1_S},      // 24
    {"IQ4_NL", kIQ4_NL},    // 25
    {"IQ3_S", kIQ3_S},      // 26
    {"IQ3_M", kIQ3_S},      // 27
    {"IQ2_S", kIQ2_S},      // 28
    {"IQ2_M", kIQ2_S},      // 29
    {"IQ4_XS", kIQ4_XS},    // 30
    {"IQ1_M", kIQ1_M},      // 31
    {"BF16", kBF16},        // 32
    {"", 0},                // 33: Q4_0_4_4, removed
    {"", 0},                // 34: Q4_0_4_8, removed
    {"", 0},                // 35: Q4_0_8_8, removed
    {"TQ1_0", kTQ1_0},      // 36
    {"TQ2_0", kTQ2_0},      // 37
    {"MXFP4_MOE", kMXFP4},  // 38
}};

const FileTypeEntry* find(uint32_t file_type) {
  if (file_type >= kFileTypes.size() || kFileTypes[file_type].name.empty()) {
    return nullptr;
  }
  return &kFileTypes[file_type];
}

}  // namespace

std::string file_type_name(uint32_t file_type) {
  if (const auto* entry = find(file_type)) {
    return std::string(entry->name);
  }
  return "type_" + std::to_string(file_type);
}

double file_type_bits_per_weight(uint32_t file_type) {
  const auto* entry = find(file_type);
  if (entry == nullptr) {
    return 0.0;
  }
  const auto traits = tensor_type_traits(entry->main_tensor_type);
  return traits ? traits->bits_per_weight() : 0.0;
}

}  // namespace inference::gguf
