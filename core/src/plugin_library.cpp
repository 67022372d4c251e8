#include "plugin_library.hpp"

#include <dlfcn.h>

#include <cstring>
#include <exception>

#include "inference/backend.hpp"
#include "inference/error.hpp"

namespace inference {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kPluginFilePrefix = "libbackend_";
constexpr std::string_view kPluginFileSuffix = ".so";

[[noreturn]] void fail(errc code, const fs::path& file, const std::string& reason) {
  throw Error(code, file.string() + ": " + reason);
}

std::string last_dlerror() {
  const char* text = dlerror();
  return text != nullptr ? text : "unknown dynamic loader error";
}

bool world_writable(const fs::path& path) {
  std::error_code ec;
  const auto status = fs::status(path, ec);
  return !ec && (status.permissions() & fs::perms::others_write) != fs::perms::none;
}

// Anyone could have replaced a world-writable file, or swapped one in a world-writable
// directory, and loading it runs their code in our process.
void refuse_world_writable(const fs::path& file) {
  if (world_writable(file)) fail(errc::plugin_load_failed, file, "the file is world-writable, refusing to load it");
  std::vector<fs::path> directories{file.parent_path()};
  std::error_code ec;
  const fs::path real = fs::canonical(file, ec);
  if (!ec && real.parent_path() != file.parent_path()) directories.push_back(real.parent_path());
  for (const auto& directory : directories) {
    if (world_writable(directory)) {
      fail(errc::plugin_load_failed, file,
           "its directory " + directory.string() + " is world-writable, refusing to load it");
    }
  }
}

// Collects what a plugin registers; lives only for the register_backends() call.
class CollectingRegistrar final : public PluginRegistrar {
 public:
  void add(std::shared_ptr<Backend> backend) override { backends.push_back(std::move(backend)); }

  std::vector<std::shared_ptr<Backend>> backends;
};

}  // namespace

void PluginLibrary::DlcloseDeleter::operator()(void* handle) const noexcept { dlclose(handle); }

PluginLibrary::PluginLibrary(fs::path file, Handle handle, const InferencePluginDescriptor& descriptor)
    : file_(std::move(file)), handle_(std::move(handle)), descriptor_(&descriptor) {}

PluginLibrary::~PluginLibrary() = default;

std::shared_ptr<PluginLibrary> PluginLibrary::open(const fs::path& file) {
  // Absolute, because dlopen() searches the system library path for a name without a slash.
  const fs::path path = fs::absolute(file);

  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (!fs::exists(status)) fail(errc::plugin_load_failed, path, "file not found");
  if (!fs::is_regular_file(status)) fail(errc::plugin_load_failed, path, "not a regular file");
  refuse_world_writable(path);

  // RTLD_LOCAL: two plugins may define the same symbols without seeing each other's.
  // RTLD_NOW: an unresolved symbol fails here, with a message, not later in the middle of a call.
  Handle handle(dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL));
  if (!handle) fail(errc::plugin_load_failed, path, "not a loadable shared object: " + last_dlerror());

  dlerror();
  const void* symbol = dlsym(handle.get(), kPluginSymbol);
  if (symbol == nullptr) {
    fail(errc::plugin_load_failed, path,
         std::string("missing symbol ") + kPluginSymbol + " (not an inference plugin; use INFERENCE_PLUGIN)");
  }
  const auto& descriptor = *static_cast<const InferencePluginDescriptor*>(symbol);

  // Only the plain C fields are read until both checks pass: C++ types are compatible only
  // between identical toolchains.
  if (descriptor.abi_version != kPluginAbiVersion) {
    fail(errc::plugin_abi_mismatch, path,
         "plugin ABI version " + std::to_string(descriptor.abi_version) + ", this runtime needs " +
             std::to_string(kPluginAbiVersion));
  }
  const char* tag = descriptor.build_tag != nullptr ? descriptor.build_tag : "(none)";
  if (std::strcmp(tag, INFERENCE_BUILD_TAG) != 0) {
    fail(errc::plugin_abi_mismatch, path,
         std::string("plugin built with '") + tag + "', this runtime with '" + INFERENCE_BUILD_TAG + "'");
  }
  if (descriptor.register_backends == nullptr) {
    fail(errc::plugin_load_failed, path, "the descriptor has no register_backends function");
  }
  return std::shared_ptr<PluginLibrary>(new PluginLibrary(path, std::move(handle), descriptor));
}

std::vector<std::shared_ptr<Backend>> PluginLibrary::register_backends() const {
  CollectingRegistrar registrar;
  try {
    descriptor_->register_backends(registrar);
  } catch (const std::exception& e) {
    // The message is copied out here: the exception object may belong to the plugin's code.
    fail(errc::plugin_load_failed, file_, std::string("registration threw: ") + e.what());
  } catch (...) {
    fail(errc::plugin_load_failed, file_, "registration threw a non-standard exception");
  }
  for (const auto& backend : registrar.backends) {
    if (!backend) fail(errc::plugin_load_failed, file_, "registration added a null backend");
  }
  return std::move(registrar.backends);
}

std::optional<std::string> plugin_name_from_filename(std::string_view filename) {
  if (filename.size() <= kPluginFilePrefix.size() + kPluginFileSuffix.size()) return std::nullopt;
  if (!filename.starts_with(kPluginFilePrefix) || !filename.ends_with(kPluginFileSuffix)) return std::nullopt;
  filename.remove_prefix(kPluginFilePrefix.size());
  filename.remove_suffix(kPluginFileSuffix.size());
  return std::string(filename);
}

}  // namespace inference
