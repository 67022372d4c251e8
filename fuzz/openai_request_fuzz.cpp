// libFuzzer target: the gateway's request parser and validator must turn any body into a valid
// request or a 400 ApiError, and the API-key check must agree with plain comparison. The
// invariants are in openai_request_check.hpp; anything but a caught ApiError escaping (including a
// broken invariant) is a crash.
#include <cstddef>
#include <cstdint>
#include <span>

#include "openai_request_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  inference::fuzz::check_openai_request_input(std::span<const std::uint8_t>(data, size));
  return 0;
}
