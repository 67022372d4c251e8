#include "inference/backend.hpp"

namespace inference {

Availability Backend::available_with(const LoadOptions& /*options*/) const { return available(); }

Availability Backend::preflight(const std::string& /*path*/, const LoadOptions& options) const {
  return available_with(options);
}

}  // namespace inference
