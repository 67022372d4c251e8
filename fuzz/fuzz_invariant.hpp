// Invariant checks of the fuzz targets, shared with the seed replay test. A broken invariant
// throws InvariantViolation, which is deliberately not an inference::Error: libFuzzer reports it
// as a crash (uncaught exception) and GoogleTest as a failure naming the seed.
#pragma once

#include <stdexcept>
#include <string>

namespace inference::fuzz {

class InvariantViolation : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

inline void require(bool condition, const std::string& what) {
  if (!condition) {
    throw InvariantViolation(what);
  }
}

}  // namespace inference::fuzz
