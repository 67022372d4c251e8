#include "inference/llama_server/server_version_cache.hpp"

#include <sys/stat.h>

#include <map>
#include <mutex>
#include <optional>
#include <tuple>

namespace inference::llama_server {
namespace {

// What makes two probes of "the same binary" interchangeable.
struct FileIdentity {
  std::string resolved_path;
  dev_t device = 0;
  ino_t inode = 0;
  off_t size = 0;
  int64_t mtime_ns = 0;

  friend bool operator<(const FileIdentity& a, const FileIdentity& b) {
    return std::tie(a.resolved_path, a.device, a.inode, a.size, a.mtime_ns) <
           std::tie(b.resolved_path, b.device, b.inode, b.size, b.mtime_ns);
  }
};

std::optional<FileIdentity> identify(const std::filesystem::path& binary) {
  std::error_code ec;
  auto resolved = std::filesystem::canonical(binary, ec);
  if (ec) return std::nullopt;
  struct stat info {};
  if (::stat(resolved.c_str(), &info) != 0) return std::nullopt;
  return FileIdentity{resolved.string(), info.st_dev, info.st_ino, info.st_size,
                      static_cast<int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
}

struct Cache {
  std::mutex mutex;
  std::map<FileIdentity, ServerVersion> versions;
};

Cache& cache() {
  static Cache instance;
  return instance;
}

std::optional<ServerVersion> remembered(const FileIdentity& identity) {
  std::lock_guard lock(cache().mutex);
  const auto it = cache().versions.find(identity);
  if (it == cache().versions.end()) return std::nullopt;
  return it->second;
}

}  // namespace

boost::asio::awaitable<ServerVersion> probe_server_version_cached(std::filesystem::path binary,
                                                                  std::chrono::milliseconds timeout) {
  const auto identity = identify(binary);
  if (identity) {
    if (auto version = remembered(*identity)) co_return *version;
  }
  // The probe runs without the lock: it can take up to `timeout`, and other binaries (or the
  // same one) must not wait behind it.
  ServerVersion version = co_await probe_server_version(std::move(binary), timeout);
  if (identity) {
    std::lock_guard lock(cache().mutex);
    cache().versions.insert_or_assign(*identity, version);
  }
  co_return version;
}

}  // namespace inference::llama_server
