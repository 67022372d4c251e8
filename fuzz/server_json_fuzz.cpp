// libFuzzer target: the parsers of llama-server's JSON answers (/props, /slots, completion
// chunks, error bodies) must turn any input into a value or an inference::Error. The invariants
// are in server_json_check.hpp; anything but inference::Error escaping (including a broken
// invariant) is a crash.
#include <cstddef>
#include <cstdint>
#include <span>

#include "server_json_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  inference::fuzz::check_server_json_input(std::span<const std::uint8_t>(data, size));
  return 0;
}
