// Builds a GGUF file (versions 2 and 3) from metadata and tensors held in memory. Used by the
// tiny model generator and by tests that need well-formed or deliberately broken files.
// Not thread-safe: one builder per thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "inference/gguf/gguf_file.hpp"
#include "inference/gguf/gguf_value.hpp"

namespace inference::gguf {

struct WriteOptions {
  uint32_t version = kMaxVersion;
};

class GgufBuilder {
 public:
  // Sets key to value; a new key is appended, an existing key keeps its position.
  // Setting general.alignment (uint32) changes the data alignment of the written file.
  void set(const std::string& key, Value value);

  // Appends a tensor. data must hold exactly the size computed from type and dims (checked;
  // throws Error(errc::invalid_argument) otherwise).
  void add_tensor(std::string name, uint32_t type, std::vector<uint64_t> dims, std::vector<std::byte> data);

  // Appends a tensor of zeros without holding its data: write() leaves it as a hole (a sparse
  // file that takes no disk space), serialize() spells the zeros out. For files whose tensor
  // sizes matter and whose contents do not, e.g. a model of real size for the memory fit tests.
  // Throws Error(errc::invalid_argument) for an invalid type or shape.
  void add_zero_tensor(std::string name, uint32_t type, std::vector<uint64_t> dims);

  // The complete file image.
  std::vector<std::byte> serialize(const WriteOptions& options = {}) const;

  // Writes the image to path (replacing it), zero tensors as holes. Throws
  // Error(errc::invalid_argument) on I/O failure.
  void write(const std::filesystem::path& path, const WriteOptions& options = {}) const;

  const std::vector<std::pair<std::string, Value>>& metadata() const noexcept { return metadata_; }

 private:
  struct PendingTensor {
    std::string name;
    uint32_t type = 0;
    std::vector<uint64_t> dims;
    std::vector<std::byte> data;  // empty for a zero tensor
    uint64_t size = 0;            // bytes of data
    bool zeros = false;
  };

  uint32_t alignment() const;
  // Everything before the first tensor's data (header, metadata, tensor infos, padding).
  std::vector<std::byte> head(const WriteOptions& options) const;

  std::vector<std::pair<std::string, Value>> metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace inference::gguf
