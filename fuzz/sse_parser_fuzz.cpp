// libFuzzer target: SseParser must turn any body, split anywhere and under any event-size limit,
// into events or an inference::Error, the same events however it is split. The input layout
// and the invariants are in sse_parser_check.hpp; anything but inference::Error escaping
// (including a broken invariant) is a crash.
#include <cstddef>
#include <cstdint>
#include <span>

#include "sse_parser_check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  inference::fuzz::check_sse_parser_input(std::span<const std::uint8_t>(data, size));
  return 0;
}
