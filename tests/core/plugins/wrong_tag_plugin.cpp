// libbackend_testtag.so: the right ABI version from another toolchain. Its registration must
// never run.
#include <cstdlib>

#include "inference/plugin_abi.hpp"

namespace {

void register_backends(inference::PluginRegistrar&) { std::abort(); }

}  // namespace

extern "C" __attribute__((visibility("default"), used))
const inference::InferencePluginDescriptor inference_plugin_v1 = {
    inference::kPluginAbiVersion, "gcc-1;libstdc++-1;boost-100000;cxx-199711", &register_backends};
