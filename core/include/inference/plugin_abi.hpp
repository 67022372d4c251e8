// The contract between libinference and backend plugins (libbackend_<name>.so).
//
// A plugin exports exactly one symbol, `inference_plugin_v1`, an InferencePluginDescriptor.
// The loader reads the plain C fields first (ABI version, build tag) and only when both match
// calls register_backends(), because C++ types (std::string, std::shared_ptr, Boost.Asio
// awaitables) cross the boundary and are only compatible between identical toolchains.
//
// Write a plugin like this (see plugins/stub and docs/plugins.md):
//
//   static void register_backends(inference::PluginRegistrar& registrar) {
//     registrar.add(std::make_shared<MyBackend>());
//   }
//   INFERENCE_PLUGIN(register_backends)
#pragma once

#include <boost/version.hpp>
#include <cstdint>
#include <memory>

namespace inference {

class Backend;

// 2: Availability gained server_path; Backend, Error, GenerateConfig and GenerateResult changed
// layout (available_with(), detail(), timeout, error_detail).
// 3: Backend gained priority() (a new virtual: the vtable changed); LoadOptions lost server_path
// and extra_args (now backend_options keys of the llama-server engine) and server_log became
// child_log; Availability::server_path became executable (same layout). errc values unchanged.
// 4: TextModel gained reload() (a new virtual); GenerateMetrics gained replica and slot,
// ModelStats affinity_hits, prefix_hits and replicas (layout); errc gained unsupported and
// device_lost (appended: earlier values unchanged).
// 5: GenerateConfig gained structured output and tool fields, Message tool calls, TextModel
// tokenize()/detokenize()/embed()/rerank()/generate_tokens() (new virtuals).
// 6: ModelInfo gained serving_context_per_slot, serving_context_reason and serving_device;
// Availability gained devices (layout).
inline constexpr uint32_t kPluginAbiVersion = 6;
inline constexpr const char* kPluginSymbol = "inference_plugin_v1";

#define INFERENCE_STRINGIFY_IMPL(x) #x
#define INFERENCE_STRINGIFY(x) INFERENCE_STRINGIFY_IMPL(x)

#if defined(__clang__)
#define INFERENCE_COMPILER_TAG "clang-" INFERENCE_STRINGIFY(__clang_major__)
#elif defined(__GNUC__)
#define INFERENCE_COMPILER_TAG "gcc-" INFERENCE_STRINGIFY(__GNUC__)
#else
#define INFERENCE_COMPILER_TAG "unknown-compiler"
#endif

#if defined(_GLIBCXX_RELEASE)
#define INFERENCE_STDLIB_TAG "libstdc++-" INFERENCE_STRINGIFY(_GLIBCXX_RELEASE)
#elif defined(_LIBCPP_VERSION)
#define INFERENCE_STDLIB_TAG "libc++-" INFERENCE_STRINGIFY(_LIBCPP_VERSION)
#else
#define INFERENCE_STDLIB_TAG "unknown-stdlib"
#endif

// Compiler, standard library, Boost and language versions: what must match for C++ types to be
// shared. Compared as a string by the loader; a plugin with another tag is refused.
#define INFERENCE_BUILD_TAG                       \
  INFERENCE_COMPILER_TAG ";" INFERENCE_STDLIB_TAG \
                         ";boost-" INFERENCE_STRINGIFY(BOOST_VERSION) ";cxx-" INFERENCE_STRINGIFY(__cplusplus)

// Receives the backends a plugin registers. Valid only during register_backends().
class PluginRegistrar {
 public:
  virtual void add(std::shared_ptr<Backend> backend) = 0;

 protected:
  ~PluginRegistrar() = default;
};

extern "C" {
struct InferencePluginDescriptor {
  uint32_t abi_version;
  const char* build_tag;
  void (*register_backends)(inference::PluginRegistrar&);
};
}

}  // namespace inference

#define INFERENCE_PLUGIN(register_fn)                                                                 \
  extern "C" __attribute__((visibility("default"), used))                                             \
  const ::inference::InferencePluginDescriptor inference_plugin_v1 = {::inference::kPluginAbiVersion, \
                                                                      INFERENCE_BUILD_TAG, &(register_fn)};
