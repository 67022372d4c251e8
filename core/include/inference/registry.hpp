// Registry: the backends a host application can use, built in or loaded from plugins.
//
// Plugins are shared objects named libbackend_<name>.so. They are searched in: explicit
// directories, then INFERENCE_PLUGIN_PATH (colon-separated), then the default locations
// relative to the running executable (<exe>/../plugins in the build tree,
// <exe>/../lib/inference/plugins in the install tree). A plugin stays mapped while any object
// that came from it (backend, model, stream) is alive.
//
// Thread-safety: all member functions are thread-safe. The Registry may be destroyed while
// models from it are still in use; they keep their plugin loaded.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "inference/backend.hpp"
#include "inference/error.hpp"

namespace inference {

struct BackendEntry {
  std::string name;
  int priority = kDefaultBackendPriority;  // Backend::priority()
  Availability availability;
  std::string plugin_file;  // empty for backends added in-process
  std::shared_ptr<Backend> backend;
};

struct PluginSearch {
  std::vector<std::filesystem::path> directories;  // searched first, in order
  bool use_environment = true;                     // INFERENCE_PLUGIN_PATH
  bool use_default = true;                         // next to the executable
};

// A plugin file that could not be loaded while scanning directories.
struct PluginFailure {
  std::filesystem::path file;
  std::error_code code;
  std::string message;  // one line, names the file and the cause
};

// The directories PluginSearch resolves to, in search order, without duplicates.
std::vector<std::filesystem::path> plugin_directories(const PluginSearch& search);

class Registry {
 public:
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;
  ~Registry();

  // Registers an in-process backend. Throws Error(duplicate_backend) when the name is taken.
  void add(std::shared_ptr<Backend> backend);

  // Loads one plugin file and registers its backends. Throws Error naming the file:
  // plugin_load_failed (missing, not a shared object, missing symbol, registration threw,
  // world-writable), plugin_abi_mismatch, duplicate_backend.
  void load_plugin(const std::filesystem::path& file);

  // Loads every libbackend_*.so found in the search directories. A file that fails is
  // reported and skipped; the same backend name found again later in the path is skipped too.
  std::vector<PluginFailure> load_plugins(const PluginSearch& search = {});

  std::shared_ptr<Backend> find(std::string_view name) const;  // nullptr when absent
  std::shared_ptr<Backend> get(std::string_view name) const;   // throws Error(not_registered)
  std::vector<BackendEntry> list() const;                      // sorted by name

  // The available backend with the highest Backend::priority(), the first by name among equals;
  // never one whose priority is kPriorityOnlyWhenNamed. Throws Error(backend_unavailable) listing
  // each backend's reason.
  std::shared_ptr<Backend> default_backend() const;
  // The same, with availability judged by Backend::available_with(options).
  std::shared_ptr<Backend> default_backend(const LoadOptions& options) const;

  // Loads a model with the named backend, or default_backend(options) when `backend` is empty.
  // Fails with not_registered / backend_unavailable ("<name>: <reason>", judged by
  // Backend::available_with(options), so what the options supply counts) before touching it.
  // Cancellation: as Backend::load_model().
  boost::asio::awaitable<std::shared_ptr<TextModel>> load_model(std::string path, LoadOptions options,
                                                                std::string backend = {});

 private:
  struct Entry;
  // list(), with availability asked with `options` when not null.
  std::vector<BackendEntry> list_for(const LoadOptions* options) const;
  static std::shared_ptr<Backend> choose_default(const std::vector<BackendEntry>& entries);
  // Registers all of `backends` or, when any name is taken, none (throws duplicate_backend).
  void add_entries(std::vector<std::shared_ptr<Backend>> backends, std::string plugin_file);

  mutable std::mutex mutex_;
  std::vector<Entry> entries_;
};

}  // namespace inference
