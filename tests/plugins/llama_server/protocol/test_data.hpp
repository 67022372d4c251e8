// Reads the responses captured from the real llama-server in tests/plugins/llama_server/data/.
#pragma once

#include <string>
#include <string_view>

namespace inference::llama_server::test {

// The whole file data/<name>; fails the calling test (and returns "") when it cannot be read.
std::string read_test_data(std::string_view name);

}  // namespace inference::llama_server::test
