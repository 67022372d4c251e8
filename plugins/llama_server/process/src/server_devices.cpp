#include "inference/llama_server/server_devices.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "child_spawn.hpp"
#include "probe_child.hpp"

namespace inference::llama_server {
namespace {

constexpr std::string_view kDevicesHeader = "Available devices:";
constexpr std::string_view kNoDevices = "(none)";
constexpr std::string_view kLoadedMarker = "load_backend: loaded ";
constexpr std::string_view kLoadedSuffix = " backend from ";
constexpr std::string_view kFailedMarker = "load_backend: failed to initialize backend from ";
// Device descriptions that name a software implementation of a GPU API (lower case).
constexpr std::string_view kSoftwareRenderers[] = {"llvmpipe", "lavapipe", "softpipe", "swiftshader"};

std::string_view trim(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return text;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

// Consumes a decimal number at the front of `text`.
std::optional<std::uint64_t> take_number(std::string_view& text) {
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc()) return std::nullopt;
  text.remove_prefix(static_cast<std::size_t>(end - text.data()));
  return value;
}

bool take(std::string_view& text, std::string_view expected) {
  if (text.substr(0, expected.size()) != expected) return false;
  text.remove_prefix(expected.size());
  return true;
}

// "Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits) (24105 MiB, 23433 MiB free)".
std::optional<ServerDevice> parse_device(std::string_view line) {
  const auto colon = line.find(": ");
  if (colon == 0 || colon == std::string_view::npos) return std::nullopt;
  const std::string_view name = line.substr(0, colon);
  if (std::any_of(name.begin(), name.end(), [](unsigned char c) { return !std::isalnum(c); })) return std::nullopt;
  const std::string_view rest = line.substr(colon + 2);
  const auto open = rest.rfind('(');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view memory = rest.substr(open);
  ServerDevice device;
  device.name = std::string(name);
  device.description = std::string(trim(rest.substr(0, open)));
  const auto total = take(memory, "(") ? take_number(memory) : std::nullopt;
  if (!total || !take(memory, " MiB, ")) return std::nullopt;
  const auto free = take_number(memory);
  if (!free || memory != " MiB free)" || device.description.empty()) return std::nullopt;
  device.total_mib = *total;
  device.free_mib = *free;
  return device;
}

// The load_backend lines: which ggml backends loaded and which libraries failed to initialise.
void parse_backend_line(std::string_view line, ServerDeviceList& list) {
  if (const auto at = line.find(kLoadedMarker); at != std::string_view::npos) {
    std::string_view rest = line.substr(at + kLoadedMarker.size());
    const auto end = rest.find(kLoadedSuffix);
    if (end == 0 || end == std::string_view::npos) return;
    const std::string name(rest.substr(0, end));
    if (std::find(list.loaded_backends.begin(), list.loaded_backends.end(), name) == list.loaded_backends.end()) {
      list.loaded_backends.push_back(name);
    }
    return;
  }
  if (const auto at = line.find(kFailedMarker); at != std::string_view::npos) {
    std::string_view path = line.substr(at + kFailedMarker.size());
    path = path.substr(0, path.find(": "));
    const std::string file = std::filesystem::path(std::string(trim(path))).filename().string();
    if (!file.empty()) list.failed_backends.push_back(file);
  }
}

}  // namespace

std::string ServerDevice::runtime() const {
  std::string_view text = name;
  while (!text.empty() && std::isdigit(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return std::string(text);
}

bool ServerDevice::software() const {
  const std::string text = lower(description);
  return std::any_of(std::begin(kSoftwareRenderers), std::end(kSoftwareRenderers),
                     [&](std::string_view renderer) { return text.find(renderer) != std::string::npos; });
}

std::string ServerDevice::describe() const {
  return name + ": " + description + " (" + std::to_string(total_mib) + " MiB, " + std::to_string(free_mib) +
         " MiB free)";
}

bool ServerDeviceList::has_runtime(std::string_view runtime) const {
  if (std::find(loaded_backends.begin(), loaded_backends.end(), runtime) != loaded_backends.end()) return true;
  // A device of the runtime proves it loaded. llama.cpp's logger thread may lose the "loaded ...
  // backend" line of a process that exits at once (seen 1 in 8 under load); the device list is
  // printed by the main thread and is never lost.
  if (!devices_of(runtime).empty()) return true;
  const std::string needle = runtime == "ROCm" ? std::string("hip") : lower(runtime);
  return std::any_of(failed_backends.begin(), failed_backends.end(),
                     [&](const std::string& file) { return lower(file).find(needle) != std::string::npos; });
}

std::vector<ServerDevice> ServerDeviceList::devices_of(std::string_view runtime) const {
  std::vector<ServerDevice> out;
  for (const ServerDevice& device : devices) {
    if (device.runtime() == runtime) out.push_back(device);
  }
  return out;
}

std::optional<ServerDeviceList> parse_server_devices(std::string_view output) {
  ServerDeviceList list;
  bool listing = false;
  while (!output.empty()) {
    const auto newline = output.find('\n');
    const std::string_view line = trim(output.substr(0, newline));
    output.remove_prefix(newline == std::string_view::npos ? output.size() : newline + 1);
    parse_backend_line(line, list);
    // ends_with: llama.cpp's logger writes a line's timestamp and its message with separate
    // writes from its own thread, so stdout's block (the list) can land between the two.
    if (line.ends_with(kDevicesHeader)) {
      listing = true;
      continue;
    }
    if (!listing || line == kNoDevices) continue;
    if (auto device = parse_device(line)) {
      if (list.devices.size() == kMaxListedDevices) return std::nullopt;
      list.devices.push_back(std::move(*device));
    }
  }
  if (!listing) return std::nullopt;
  return list;
}

boost::asio::awaitable<ServerDeviceList> probe_server_devices(std::filesystem::path binary,
                                                              ProbeEnvironment environment,
                                                              std::chrono::milliseconds timeout) {
  detail::ProbeCommand command;
  command.binary = std::move(binary);
  command.arguments = {"-lv", "4", "--list-devices"};
  command.environment = detail::current_environment();
  // The probe's variables replace the host's own settings of them.
  std::erase_if(command.environment,
                [&](const std::string& entry) { return environment.count(entry.substr(0, entry.find('='))) != 0; });
  for (const auto& [name, value] : environment) command.environment.push_back(name + "=" + value);
  const std::string output = co_await detail::run_probe_child(command, timeout);
  if (auto list = parse_server_devices(output)) co_return std::move(*list);
  detail::throw_probe_failure(command, "printed no device list", output);
}

}  // namespace inference::llama_server
