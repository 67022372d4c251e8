// The tiny model's tokenizer: a byte-level SentencePiece-style vocabulary (control tokens, the
// 256 byte-fallback tokens and a few hundred English word pieces). Internal to the gguf library.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace inference::gguf::detail {

// Token types as llama.cpp's tokenizer.ggml.token_type defines them.
enum class TokenType : int32_t {
  normal = 1,
  unknown = 2,
  control = 3,
  user_defined = 4,
  unused = 5,
  byte = 6,
};

struct TinyVocabulary {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<TokenType> types;
  uint32_t unknown_id = 0;
  uint32_t bos_id = 0;
  uint32_t eos_id = 0;
};

// Always the same vocabulary: it does not depend on the seed.
TinyVocabulary make_tiny_vocabulary();

}  // namespace inference::gguf::detail
