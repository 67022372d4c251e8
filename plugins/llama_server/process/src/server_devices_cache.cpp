// probe_server_devices_cached() and the blocking form (server_devices.hpp): the device memo,
// keyed like the version memo (file_identity.hpp) plus the probe's environment.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <map>
#include <mutex>
#include <utility>

#include "file_identity.hpp"
#include "inference/llama_server/server_devices.hpp"

namespace inference::llama_server {
namespace {

using Key = std::pair<detail::FileIdentity, ProbeEnvironment>;

struct Cache {
  std::mutex mutex;
  std::map<Key, ServerDeviceList> lists;
};

Cache& cache() {
  static Cache instance;
  return instance;
}

std::optional<ServerDeviceList> remembered(const Key& key) {
  std::lock_guard lock(cache().mutex);
  const auto it = cache().lists.find(key);
  if (it == cache().lists.end()) return std::nullopt;
  return it->second;
}

}  // namespace

boost::asio::awaitable<ServerDeviceList> probe_server_devices_cached(std::filesystem::path binary,
                                                                     ProbeEnvironment environment,
                                                                     std::chrono::milliseconds timeout) {
  const auto identity = detail::identify(binary);
  std::optional<Key> key;
  if (identity) {
    key.emplace(*identity, environment);
    if (auto list = remembered(*key)) co_return std::move(*list);
  }
  // Without the lock: the probe can take up to `timeout`, and other binaries must not wait.
  ServerDeviceList list = co_await probe_server_devices(std::move(binary), std::move(environment), timeout);
  if (key) {
    std::lock_guard lock(cache().mutex);
    cache().lists.insert_or_assign(*key, list);
  }
  co_return list;
}

ServerDeviceList probe_server_devices_blocking(const std::filesystem::path& binary, const ProbeEnvironment& environment,
                                               bool cached, std::chrono::milliseconds timeout) {
  boost::asio::io_context io;
  auto result = boost::asio::co_spawn(io,
                                      cached ? probe_server_devices_cached(binary, environment, timeout)
                                             : probe_server_devices(binary, environment, timeout),
                                      boost::asio::use_future);
  io.run();
  return result.get();
}

}  // namespace inference::llama_server
