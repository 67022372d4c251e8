// libFuzzer target: the openai backend's parsers (stream events, refusals, Retry-After, base_url)
// must turn any input into a value or an inference::Error. The invariants are in
// remote_protocol_check.hpp; anything but inference::Error escaping (including a broken
// invariant) is a crash.
#include <cstddef>
#include <cstdint>
#include <span>

#include "remote_protocol_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  inference::fuzz::check_remote_protocol_input(std::span<const std::uint8_t>(data, size));
  return 0;
}
