// Test support: the project error code an exception_ptr holds (an inference::Error), or
// internal_error for anything else.
#pragma once

#include <exception>

#include "inference/error.hpp"

namespace inference::testing {

inline errc caught_code(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const Error& error) {
    return static_cast<errc>(error.code().value());
  } catch (...) {
  }
  return errc::internal_error;
}

}  // namespace inference::testing
