// What makes two probes of "the same binary" interchangeable, private to the llama_server
// library: the key of the version and device caches. The resolved path (symlinks followed) plus
// device, inode, size and modification time, so replacing or editing the binary (an upgrade)
// makes a new key.
//
// Ownership: plain values. Thread-safety: identify() only stat()s; safe from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <tuple>

namespace inference::llama_server::detail {

struct FileIdentity {
  std::string resolved_path;
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  std::int64_t mtime_ns = 0;

  friend bool operator<(const FileIdentity& a, const FileIdentity& b) {
    return std::tie(a.resolved_path, a.device, a.inode, a.size, a.mtime_ns) <
           std::tie(b.resolved_path, b.device, b.inode, b.size, b.mtime_ns);
  }
};

// std::nullopt when the file cannot be resolved or stat()ed (then nothing is cached for it).
std::optional<FileIdentity> identify(const std::filesystem::path& binary);

}  // namespace inference::llama_server::detail
