#include "inference/backend.hpp"

namespace inference {

Availability Backend::preflight(const std::string& /*path*/, const LoadOptions& /*options*/) const {
  return available();
}

}  // namespace inference
