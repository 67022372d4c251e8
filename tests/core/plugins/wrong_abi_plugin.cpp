// libbackend_testabi.so: a descriptor from a future ABI. Its registration must never run.
#include <cstdlib>

#include "inference/plugin_abi.hpp"

namespace {

constexpr uint32_t kFutureAbiVersion = 999;

void register_backends(inference::PluginRegistrar&) { std::abort(); }

}  // namespace

extern "C" __attribute__((visibility("default"), used))
const inference::InferencePluginDescriptor inference_plugin_v1 = {kFutureAbiVersion, INFERENCE_BUILD_TAG,
                                                                  &register_backends};
