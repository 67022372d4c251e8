// PluginLibrary: one opened backend plugin (libbackend_<name>.so) whose descriptor has been
// checked. Owns the dlopen handle; the shared object is unmapped when the last shared_ptr to
// the PluginLibrary goes, so everything made by plugin code must hold one (see plugin_proxy.hpp).
//
// Thread-safety: open() may be called from any thread; an opened PluginLibrary is immutable.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inference/plugin_abi.hpp"

namespace inference {

class Backend;

class PluginLibrary {
 public:
  // Checks the file (exists, regular, neither it nor its directory world-writable), dlopens it
  // with RTLD_NOW | RTLD_LOCAL and checks the descriptor's ABI version and build tag. Nothing
  // in the plugin is called. Throws Error naming the file: plugin_load_failed or
  // plugin_abi_mismatch.
  static std::shared_ptr<PluginLibrary> open(const std::filesystem::path& file);

  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;
  ~PluginLibrary();

  const std::filesystem::path& file() const noexcept { return file_; }

  // Calls the plugin's register_backends() and returns what it registered (plugin objects:
  // keep this PluginLibrary alive while they exist). Throws Error(plugin_load_failed) when
  // registration throws or registers a null backend.
  std::vector<std::shared_ptr<Backend>> register_backends() const;

 private:
  struct DlcloseDeleter {
    void operator()(void* handle) const noexcept;
  };
  using Handle = std::unique_ptr<void, DlcloseDeleter>;

  PluginLibrary(std::filesystem::path file, Handle handle, const InferencePluginDescriptor& descriptor);

  std::filesystem::path file_;
  Handle handle_;
  const InferencePluginDescriptor* descriptor_;  // points into the mapped object
};

// "libbackend_stub.so" -> "stub"; std::nullopt for any other file name.
std::optional<std::string> plugin_name_from_filename(std::string_view filename);

}  // namespace inference
