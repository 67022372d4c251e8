// Shared by plugin_loading_test: where the test plugins are, whether a shared object is mapped,
// a scratch directory, and running a coroutine to completion.
#pragma once

#include <dlfcn.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

namespace inference::test {

// ${CMAKE_BINARY_DIR}/test-plugins/<case>/libbackend_<name>.so, built by tests/core/plugins.
inline std::filesystem::path test_plugin(std::string_view test_case, std::string_view name) {
  return std::filesystem::path(INFERENCE_TEST_PLUGINS_DIR) / test_case / ("libbackend_" + std::string(name) + ".so");
}

inline const std::filesystem::path& good_plugin() {
  static const auto path = test_plugin("good", "testgood");
  return path;
}

// True while the shared object at `path` is mapped into this process.
inline bool is_loaded(const std::filesystem::path& path) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle != nullptr) dlclose(handle);
  return handle != nullptr;
}

// Calls `int symbol()` in the already loaded plugin at `path`; -1 when it is not loaded.
inline int plugin_counter(const std::filesystem::path& path, const char* symbol) {
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return -1;
  const auto counter = reinterpret_cast<int (*)()>(dlsym(handle, symbol));
  const int value = counter != nullptr ? counter() : -1;
  dlclose(handle);
  return value;
}

// A fresh directory (mode 0700) removed with everything in it at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "inference-plugin-test-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  const std::filesystem::path& path() const { return path_; }

  std::filesystem::path write(const std::string& name, std::string_view content) const {
    const auto file = path_ / name;
    std::ofstream(file) << content;
    return file;
  }

  std::filesystem::path copy(const std::filesystem::path& from) const {
    const auto file = path_ / from.filename();
    std::filesystem::copy_file(from, file);
    return file;
  }

 private:
  std::filesystem::path path_;
};

// Runs `awaitable` on `io` until it and everything else spawned on `io` has finished.
template <typename T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> awaitable) {
  auto future = boost::asio::co_spawn(io, std::move(awaitable), boost::asio::use_future);
  io.restart();
  io.run();
  return future.get();
}

// Runs whatever is queued on `io` (e.g. a detached close) to completion.
inline void drain(boost::asio::io_context& io) {
  io.restart();
  io.run();
}

}  // namespace inference::test
