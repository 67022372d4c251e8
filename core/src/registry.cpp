#include "inference/registry.hpp"

#include <algorithm>
#include <cstdlib>

#include "plugin_library.hpp"
#include "plugin_proxy.hpp"

namespace inference {

namespace asio = boost::asio;
namespace fs = std::filesystem;

namespace {

constexpr const char* kPluginPathVariable = "INFERENCE_PLUGIN_PATH";
constexpr char kPluginPathSeparator = ':';
// Relative to the directory of the running executable.
constexpr const char* kBuildTreePluginDir = "../plugins";
// The install tree's plugin directory relative to bin/, from the build (lib/ or lib/<multiarch>/).
#ifndef INFERENCE_INSTALL_PLUGIN_RELDIR
#define INFERENCE_INSTALL_PLUGIN_RELDIR "lib/inference/plugins"
#endif
constexpr const char* kInstallTreePluginDir = "../" INFERENCE_INSTALL_PLUGIN_RELDIR;

std::vector<fs::path> split_search_path(std::string_view value) {
  std::vector<fs::path> out;
  while (!value.empty()) {
    const auto end = value.find(kPluginPathSeparator);
    const auto part = value.substr(0, end);
    if (!part.empty()) out.emplace_back(part);
    if (end == std::string_view::npos) break;
    value.remove_prefix(end + 1);
  }
  return out;
}

std::vector<fs::path> default_plugin_directories() {
  std::error_code ec;
  const fs::path executable = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  const fs::path bin = executable.parent_path();
  return {bin / kBuildTreePluginDir, bin / kInstallTreePluginDir};
}

// libbackend_*.so in `directory`, sorted by file name.
std::vector<fs::path> plugin_files(const fs::path& directory, std::error_code& ec) {
  std::vector<fs::path> files;
  for (fs::directory_iterator it(directory, ec), end; !ec && it != end; it.increment(ec)) {
    if (plugin_name_from_filename(it->path().filename().string())) files.push_back(it->path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

struct Registry::Entry {
  std::string name;
  std::string plugin_file;           // empty for in-process backends
  std::shared_ptr<Backend> backend;  // a PluginBackend proxy for plugins
};

std::vector<fs::path> plugin_directories(const PluginSearch& search) {
  std::vector<fs::path> candidates = search.directories;
  if (search.use_environment) {
    if (const char* value = std::getenv(kPluginPathVariable)) {
      for (auto& dir : split_search_path(value)) candidates.push_back(std::move(dir));
    }
  }
  if (search.use_default) {
    for (auto& dir : default_plugin_directories()) candidates.push_back(std::move(dir));
  }

  std::vector<fs::path> out;
  for (const auto& dir : candidates) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    fs::path canonical = fs::canonical(dir, ec);
    if (ec) continue;
    if (std::find(out.begin(), out.end(), canonical) == out.end()) out.push_back(std::move(canonical));
  }
  return out;
}

Registry::Registry() = default;
Registry::~Registry() = default;

void Registry::add(std::shared_ptr<Backend> backend) {
  if (!backend) throw Error(errc::invalid_argument, "Registry::add: null backend");
  std::vector<std::shared_ptr<Backend>> backends;
  backends.push_back(std::move(backend));
  add_entries(std::move(backends), {});
}

void Registry::load_plugin(const fs::path& file) {
  // Declared first, so on any failure below the plugin's objects go before its library.
  const std::shared_ptr<const PluginLibrary> library = PluginLibrary::open(file);
  std::vector<std::shared_ptr<Backend>> proxies;
  for (auto& backend : library->register_backends()) {
    proxies.push_back(std::make_shared<PluginBackend>(library, std::move(backend)));
  }
  add_entries(std::move(proxies), library->file().string());
}

std::vector<PluginFailure> Registry::load_plugins(const PluginSearch& search) {
  std::vector<PluginFailure> failures;
  for (const auto& directory : plugin_directories(search)) {
    std::error_code ec;
    const auto files = plugin_files(directory, ec);
    if (ec) {
      failures.push_back({directory, ec, directory.string() + ": cannot list plugins: " + ec.message()});
      continue;
    }
    for (const auto& file : files) {
      // Earlier directories win: the same backend found again later in the path is skipped.
      if (find(*plugin_name_from_filename(file.filename().string()))) continue;
      try {
        load_plugin(file);
      } catch (const Error& e) {
        failures.push_back({file, e.code(), e.what()});
      }
    }
  }
  return failures;
}

std::shared_ptr<Backend> Registry::find(std::string_view name) const {
  std::lock_guard lock(mutex_);
  const auto it = std::find_if(entries_.begin(), entries_.end(), [&](const Entry& e) { return e.name == name; });
  return it == entries_.end() ? nullptr : it->backend;
}

std::shared_ptr<Backend> Registry::get(std::string_view name) const {
  auto backend = find(name);
  if (!backend) throw Error(errc::not_registered, std::string(name));
  return backend;
}

std::vector<BackendEntry> Registry::list() const { return list_for(nullptr); }

std::vector<BackendEntry> Registry::list_for(const LoadOptions* options) const {
  std::vector<Entry> entries;
  {
    std::lock_guard lock(mutex_);
    entries = entries_;
  }
  // Availability may probe the system; it is asked outside the lock.
  std::vector<BackendEntry> out;
  out.reserve(entries.size());
  for (auto& entry : entries) {
    Availability availability = options ? entry.backend->available_with(*options) : entry.backend->available();
    const int priority = entry.backend->priority();
    out.push_back(
        {entry.name, priority, std::move(availability), std::move(entry.plugin_file), std::move(entry.backend)});
  }
  std::sort(out.begin(), out.end(), [](const BackendEntry& a, const BackendEntry& b) { return a.name < b.name; });
  return out;
}

std::shared_ptr<Backend> Registry::default_backend() const { return choose_default(list_for(nullptr)); }

std::shared_ptr<Backend> Registry::default_backend(const LoadOptions& options) const {
  return choose_default(list_for(&options));
}

std::shared_ptr<Backend> Registry::choose_default(const std::vector<BackendEntry>& entries) {
  // `entries` are sorted by name, so the first of equal priority wins.
  const BackendEntry* best = nullptr;
  for (const auto& entry : entries) {
    if (!entry.availability.available || entry.priority == kPriorityOnlyWhenNamed) continue;
    if (!best || entry.priority > best->priority) best = &entry;
  }
  if (best) return best->backend;

  if (entries.empty()) throw Error(errc::backend_unavailable, "no backends are registered");
  std::string reasons;
  for (const auto& entry : entries) {
    if (!reasons.empty()) reasons += "; ";
    reasons += entry.name + ": ";
    reasons += entry.availability.available ? "used only when named explicitly" : entry.availability.reason;
  }
  throw Error(errc::backend_unavailable, reasons);
}

asio::awaitable<std::shared_ptr<TextModel>> Registry::load_model(std::string path, LoadOptions options,
                                                                 std::string backend) {
  std::shared_ptr<Backend> chosen;
  if (backend.empty()) {
    chosen = default_backend(options);
  } else {
    chosen = get(backend);
    if (const auto availability = chosen->available_with(options); !availability.available) {
      throw Error(errc::backend_unavailable, backend + ": " + availability.reason);
    }
  }
  co_return co_await chosen->load_model(std::move(path), std::move(options));
}

void Registry::add_entries(std::vector<std::shared_ptr<Backend>> backends, std::string plugin_file) {
  const auto origin = [](const std::string& file) { return file.empty() ? std::string("in-process") : file; };
  std::vector<Entry> added;
  added.reserve(backends.size());
  for (auto& backend : backends) added.push_back({backend->name(), plugin_file, std::move(backend)});

  std::lock_guard lock(mutex_);
  // All or nothing: a plugin whose second backend clashes registers neither.
  for (auto it = added.begin(); it != added.end(); ++it) {
    const auto same_name = [&](const Entry& e) { return e.name == it->name; };
    const auto existing = std::find_if(entries_.begin(), entries_.end(), same_name);
    if (existing != entries_.end()) {
      throw Error(errc::duplicate_backend, origin(plugin_file) + ": backend '" + it->name +
                                               "' is already registered by " + origin(existing->plugin_file));
    }
    if (std::find_if(added.begin(), it, same_name) != it) {
      throw Error(errc::duplicate_backend, origin(plugin_file) + ": backend '" + it->name + "' is registered twice");
    }
  }
  for (auto& entry : added) entries_.push_back(std::move(entry));
}

}  // namespace inference
