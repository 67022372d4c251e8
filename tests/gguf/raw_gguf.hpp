// Hand-assembled GGUF bytes for tests that need files the writer refuses to produce.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace inference::gguf::test {

class RawGguf {
 public:
  RawGguf& u8(uint8_t v) { return put(&v, sizeof v); }
  RawGguf& u32(uint32_t v) { return put(&v, sizeof v); }
  RawGguf& u64(uint64_t v) { return put(&v, sizeof v); }
  RawGguf& i64(int64_t v) { return put(&v, sizeof v); }
  RawGguf& str(std::string_view s) {
    u64(s.size());
    return put(s.data(), s.size());
  }
  RawGguf& magic() { return put("GGUF", 4); }
  // magic, version, tensor count, key count.
  RawGguf& header(uint32_t version, uint64_t tensors, uint64_t keys) {
    return magic().u32(version).u64(tensors).u64(keys);
  }
  RawGguf& zeros(std::size_t n) {
    bytes_.resize(bytes_.size() + n, std::byte{0});
    return *this;
  }

  std::size_t size() const { return bytes_.size(); }
  const std::vector<std::byte>& bytes() const { return bytes_; }

 private:
  RawGguf& put(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
    return *this;
  }
  std::vector<std::byte> bytes_;
};

// Overwrites a little-endian uint64 in place (e.g. the tensor count at offset 8).
inline void patch_u64(std::vector<std::byte>& bytes, std::size_t offset, uint64_t v) {
  std::memcpy(bytes.data() + offset, &v, sizeof v);
}

inline void patch_u32(std::vector<std::byte>& bytes, std::size_t offset, uint32_t v) {
  std::memcpy(bytes.data() + offset, &v, sizeof v);
}

}  // namespace inference::gguf::test
