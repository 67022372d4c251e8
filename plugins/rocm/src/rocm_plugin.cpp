// libbackend_rocm.so: registers the rocm backend. Registration only constructs it; the hardware
// is probed in available() and load_model().
#include <memory>

#include "inference/plugin_abi.hpp"
#include "rocm_backend.hpp"

namespace {
void register_backends(inference::PluginRegistrar& registrar) {
  registrar.add(std::make_shared<inference::rocm::RocmBackend>());
}
}  // namespace

INFERENCE_PLUGIN(register_backends)
