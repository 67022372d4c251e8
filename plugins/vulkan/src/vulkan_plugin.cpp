// libbackend_vulkan.so: registers the vulkan backend. Registration only constructs it; the
// binary and its devices are probed in available() and load_model().
#include <memory>

#include "inference/plugin_abi.hpp"
#include "vulkan_backend.hpp"

namespace {
void register_backends(inference::PluginRegistrar& registrar) {
  registrar.add(std::make_shared<inference::vulkan::VulkanBackend>());
}
}  // namespace

INFERENCE_PLUGIN(register_backends)
