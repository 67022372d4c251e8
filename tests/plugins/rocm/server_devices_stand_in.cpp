// TEMPORARY, test-only: a minimal implementation of server_devices.hpp so the rocm tests link and
// run before the real probe (plugins/llama_server/process, branch `vulkan`) is merged. It is
// never linked into a library or plugin, and CMakeLists.txt compiles it only while
// plugins/llama_server/process/src/server_devices.cpp does not exist; delete it once that is merged.
#include <cstdio>
#include <sstream>
#include <stdexcept>

#include "inference/error.hpp"
#include "inference/llama_server/server_devices.hpp"

namespace inference::llama_server {

namespace {

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string quoted(const std::string& text) {
  std::string out = "'";
  for (const char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// "  Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits) (24105 MiB, 23358 MiB free)"
std::optional<ServerDevice> parse_device(const std::string& line) {
  const auto colon = line.find(": ");
  const auto memory = line.rfind(" (");
  if (colon == std::string::npos || memory == std::string::npos || memory < colon) return std::nullopt;
  ServerDevice device;
  device.name = line.substr(line.find_first_not_of(' '), colon - line.find_first_not_of(' '));
  device.description = line.substr(colon + 2, memory - colon - 2);
  if (std::sscanf(line.c_str() + memory, " (%lu MiB, %lu MiB free)", &device.total_mib, &device.free_mib) != 2) {
    return std::nullopt;
  }
  return device;
}

}  // namespace

std::string ServerDevice::runtime() const { return name.substr(0, name.find_last_not_of("0123456789") + 1); }

bool ServerDevice::software() const {
  const std::string text = lower(description);
  return text.find("llvmpipe") != std::string::npos || text.find("lavapipe") != std::string::npos ||
         text.find("swiftshader") != std::string::npos;
}

std::string ServerDevice::describe() const {
  return name + ": " + description + " (" + std::to_string(total_mib) + " MiB, " + std::to_string(free_mib) +
         " MiB free)";
}

bool ServerDeviceList::has_runtime(std::string_view runtime) const {
  for (const auto& loaded : loaded_backends) {
    if (loaded == runtime) return true;
  }
  const std::string wanted = runtime == "ROCm" ? "hip" : lower(std::string(runtime));
  for (const auto& failed : failed_backends) {
    if (failed.find(wanted) != std::string::npos) return true;
  }
  return false;
}

std::vector<ServerDevice> ServerDeviceList::devices_of(std::string_view runtime) const {
  std::vector<ServerDevice> found;
  for (const auto& device : devices) {
    if (device.runtime() == runtime) found.push_back(device);
  }
  return found;
}

std::optional<ServerDeviceList> parse_server_devices(std::string_view output) {
  ServerDeviceList list;
  bool listing = false;
  std::istringstream in{std::string(output)};
  for (std::string line; std::getline(in, line);) {
    if (const auto at = line.find("load_backend: loaded "); at != std::string::npos) {
      const std::string rest = line.substr(at + 21);
      list.loaded_backends.push_back(rest.substr(0, rest.find(' ')));
    } else if (const auto failed = line.find("failed to initialize backend from "); failed != std::string::npos) {
      const std::string path = line.substr(failed + 34, line.find(':', failed + 34) - failed - 34);
      list.failed_backends.push_back(path.substr(path.rfind('/') + 1));
    } else if (line.find("Available devices:") != std::string::npos) {
      listing = true;
    } else if (listing) {
      if (auto device = parse_device(line)) list.devices.push_back(std::move(*device));
    }
  }
  if (!listing) return std::nullopt;
  return list;
}

ServerDeviceList probe_server_devices_blocking(const std::filesystem::path& binary, const ProbeEnvironment& environment,
                                               bool, std::chrono::milliseconds) {
  std::string command = "env";
  for (const auto& [name, value] : environment) command += " " + quoted(name + "=" + value);
  command += " " + quoted(binary.string()) + " -lv 4 --list-devices </dev/null 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) throw Error(errc::child_start_failed, "cannot run " + binary.string());
  std::string output;
  char buffer[4096];
  for (std::size_t n; (n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  const int status = ::pclose(pipe);
  auto parsed = parse_server_devices(output);
  if (status != 0 || !parsed) {
    throw Error(errc::child_start_failed, binary.string() + " --list-devices failed: " + output.substr(0, 400));
  }
  return *parsed;
}

}  // namespace inference::llama_server
