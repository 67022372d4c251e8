#include "inference/gguf/gguf_file.hpp"

namespace inference::gguf {

const Value* GgufFile::find(std::string_view key) const noexcept {
  for (const auto& [k, v] : metadata) {
    if (k == key) return &v;
  }
  return nullptr;
}

uint64_t GgufFile::tensor_bytes() const noexcept {
  uint64_t total = 0;
  for (const auto& t : tensors) total += t.size_bytes;
  return total;
}

}  // namespace inference::gguf
