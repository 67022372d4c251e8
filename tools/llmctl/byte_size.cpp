#include "byte_size.hpp"

#include <fmt/core.h>

#include <array>
#include <string_view>

namespace llmctl {

std::string format_bytes(uint64_t bytes) {
  constexpr double kStep = 1024.0;
  constexpr std::array<std::string_view, 5> kUnits{"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  std::size_t unit = 0;
  while (value >= kStep && unit + 1 < kUnits.size()) {
    value /= kStep;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.2f} {}", value, kUnits[unit]);
}

}  // namespace llmctl
