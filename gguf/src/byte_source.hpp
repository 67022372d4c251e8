// Sequential, bounded byte input for the GGUF parser: a buffered POSIX file descriptor or an
// in-memory image. Internal to the gguf library. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <vector>

namespace inference::gguf::detail {

class ByteSource {
 public:
  virtual ~ByteSource() = default;

  // Copies exactly n bytes to dst and advances; returns false (position unspecified) when the
  // source ends first. Throws Error(errc::invalid_model) on an I/O error.
  virtual bool read(std::byte* dst, std::size_t n) = 0;

  // Total size as known when the source was opened.
  virtual uint64_t size() const noexcept = 0;
  virtual uint64_t position() const noexcept = 0;
  // Bytes pulled from the underlying storage so far (buffer refills included).
  virtual uint64_t bytes_read() const noexcept = 0;
};

// Reads a regular file through a fixed-size buffer. Owns the descriptor.
class FileSource final : public ByteSource {
 public:
  // Opens path. Throws Error(errc::model_not_found) when it does not exist and
  // Error(errc::invalid_model) when it cannot be opened, is a directory or is not a regular file.
  explicit FileSource(const std::filesystem::path& path);
  ~FileSource() override;
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  bool read(std::byte* dst, std::size_t n) override;
  uint64_t size() const noexcept override { return size_; }
  uint64_t position() const noexcept override { return position_; }
  uint64_t bytes_read() const noexcept override { return bytes_read_; }

 private:
  bool refill();

  std::filesystem::path path_;
  int fd_ = -1;
  uint64_t size_ = 0;
  uint64_t position_ = 0;
  uint64_t bytes_read_ = 0;
  std::vector<std::byte> buffer_;
  std::size_t buffer_begin_ = 0;
  std::size_t buffer_end_ = 0;
};

// Reads from memory owned by the caller, which must outlive the source.
class MemorySource final : public ByteSource {
 public:
  explicit MemorySource(std::span<const std::byte> bytes) : bytes_(bytes) {}

  bool read(std::byte* dst, std::size_t n) override;
  uint64_t size() const noexcept override { return bytes_.size(); }
  uint64_t position() const noexcept override { return position_; }
  uint64_t bytes_read() const noexcept override { return position_; }

 private:
  std::span<const std::byte> bytes_;
  uint64_t position_ = 0;
};

}  // namespace inference::gguf::detail
