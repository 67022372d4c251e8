// A backend option naming devices by index ("devices=0,1"): the rocm backend's HIP indices and
// the vulkan backend's Vulkan physical-device indices share one parser and one message.
//
// Ownership: plain values. Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace inference::llama_server {

// "0,1,3" -> {0, 1, 3}. Throws Error(invalid_argument) naming `key` and the value when the list is
// empty, an item is not a non-negative integer ("'x' is not a <noun> index") or an index is
// named twice.
std::vector<int> parse_device_indices(std::string_view key, const std::string& value, std::string_view noun);

}  // namespace inference::llama_server
