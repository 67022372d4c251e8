// Durations as fractional milliseconds, the unit of every *_ms field llmctl prints.
#pragma once

#include <chrono>

namespace llmctl {

inline double to_milliseconds(std::chrono::nanoseconds duration) {
  return std::chrono::duration<double, std::milli>(duration).count();
}

}  // namespace llmctl
