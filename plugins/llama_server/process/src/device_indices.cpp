#include "inference/llama_server/device_indices.hpp"

#include <algorithm>
#include <charconv>

#include "inference/error.hpp"

namespace inference::llama_server {

std::vector<int> parse_device_indices(std::string_view key, const std::string& value, std::string_view noun) {
  const auto refuse = [&](const std::string& why) {
    return Error(errc::invalid_argument, "backend option " + std::string(key) + "=" + value + ": " + why + " (e.g. " +
                                             std::string(key) + "=0,1)");
  };
  std::vector<int> devices;
  std::string_view rest = value;
  for (;;) {
    const auto comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    int index = -1;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), index);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || index < 0) {
      throw refuse("'" + std::string(item) + "' is not a " + std::string(noun) + " index");
    }
    if (std::find(devices.begin(), devices.end(), index) != devices.end()) {
      throw refuse(std::string(noun) + " " + std::to_string(index) + " is named twice");
    }
    devices.push_back(index);
    if (comma == std::string_view::npos) return devices;
    rest.remove_prefix(comma + 1);
  }
}

}  // namespace inference::llama_server
