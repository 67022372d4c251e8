#include "inference/llama_server/server_version_cache.hpp"

#include <map>
#include <mutex>
#include <optional>

#include "file_identity.hpp"

namespace inference::llama_server {
namespace {

using detail::FileIdentity;
using detail::identify;

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
