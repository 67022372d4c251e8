#include "inference/gguf/tensor_type.hpp"

#include <array>

namespace inference::gguf {
namespace {

// Elements per block of the k-quants and most i-quants (ggml's QK_K).
constexpr uint32_t kSuperBlock = 256;
// Elements per block of the classic quants (ggml's QK4_0, QK8_0, ...).
constexpr uint32_t kBlock = 32;

// Indexed by ggml type code. Empty names mark codes removed from ggml; their layout is unknown.
// Byte sizes follow the block structs of ggml's quantisation formats.
constexpr std::array<TensorTypeTraits, 40> kTypes{{
    {"F32", 1, 4},                 // 0
    {"F16", 1, 2},                 // 1
    {"Q4_0", kBlock, 18},          // 2: fp16 scale + 16 bytes of nibbles
    {"Q4_1", kBlock, 20},          // 3
    {"", 0, 0},                    // 4: Q4_2, removed
    {"", 0, 0},                    // 5: Q4_3, removed
    {"Q5_0", kBlock, 22},          // 6
    {"Q5_1", kBlock, 24},          // 7
    {"Q8_0", kBlock, 34},          // 8
    {"Q8_1", kBlock, 36},          // 9
    {"Q2_K", kSuperBlock, 84},     // 10
    {"Q3_K", kSuperBlock, 110},    // 11
    {"Q4_K", kSuperBlock, 144},    // 12
    {"Q5_K", kSuperBlock, 176},    // 13
    {"Q6_K", kSuperBlock, 210},    // 14
    {"Q8_K", kSuperBlock, 292},    // 15
    {"IQ2_XXS", kSuperBlock, 66},  // 16
    {"IQ2_XS", kSuperBlock, 74},   // 17
    {"IQ3_XXS", kSuperBlock, 98},  // 18
    {"IQ1_S", kSuperBlock, 50},    // 19
    {"IQ4_NL", kBlock, 18},        // 20
    {"IQ3_S", kSuperBlock, 110},   // 21
    {"IQ2_S", kSuperBlock, 82},    // 22
    {"IQ4_XS", kSuperBlock, 136},  // 23
    {"I8", 1, 1},                  // 24
    {"I16", 1, 2},                 // 25
    {"I32", 1, 4},                 // 26
    {"I64", 1, 8},                 // 27
    {"F64", 1, 8},                 // 28
    {"IQ1_M", kSuperBlock, 56},    // 29
    {"BF16", 1, 2},                // 30
    {"", 0, 0},                    // 31: Q4_0_4_4, removed
    {"", 0, 0},                    // 32: Q4_0_4_8, removed
    {"", 0, 0},                    // 33: Q4_0_8_8, removed
    {"TQ1_0", kSuperBlock, 54},    // 34
    {"TQ2_0", kSuperBlock, 66},    // 35
    {"", 0, 0},                    // 36: IQ4_NL_4_4, removed
    {"", 0, 0},                    // 37: IQ4_NL_4_8, removed
    {"", 0, 0},                    // 38: IQ4_NL_8_8, removed
    {"MXFP4", kBlock, 17},         // 39
}};

}  // namespace

std::optional<TensorTypeTraits> tensor_type_traits(uint32_t code) noexcept {
  if (code >= kTypes.size() || kTypes[code].block_size == 0) {
    return std::nullopt;
  }
  return kTypes[code];
}

}  // namespace inference::gguf
