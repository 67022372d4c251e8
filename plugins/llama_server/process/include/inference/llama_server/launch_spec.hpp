// LaunchSpec: everything needed to start one llama-server for one model, as plain data, and the
// pure functions that turn it into the child's argv and environment. Keeping this pure lets the
// exact command line be unit-tested without starting anything.
//
// Ownership: plain values. Thread-safety: the functions are pure and safe from any thread.
// Cancellation: nothing here blocks.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "inference/llama_server/server_binary.hpp"
#include "inference/llama_server/server_endpoint.hpp"

namespace inference::llama_server {

// How the child should be reached.
enum class TransportChoice {
  automatic,    // a UNIX socket when the build supports it, else TCP on 127.0.0.1
  unix_socket,  // a UNIX socket or fail (child_start_failed) when unsupported
  tcp,          // TCP on 127.0.0.1 only
};

struct LaunchSpec {
  std::filesystem::path binary;      // from find_server_binary()
  ServerFeatures features;           // from probe_server_version(binary).features
  std::filesystem::path model_path;  // passed as one argv element, never through a shell
  std::uint32_t slots = 1;           // -np
  // Context per slot. llama-server's -c is the total, split evenly across slots, so the argv
  // carries context_per_slot × slots. 0 passes -c 0: the model's training context, split
  // across slots (resolve the per-slot value from the GGUF beforehand to avoid that).
  std::uint32_t context_per_slot = 0;
  std::int32_t gpu_layers = -1;              // -ngl; negative = all layers
  std::optional<std::string> chat_template;  // --chat-template (a built-in name or Jinja text)
  std::vector<std::string> extra_args;       // appended last, verbatim
  // Environment edits on top of the parent's: removals first, then additions (which replace).
  std::vector<std::string> environment_remove;
  std::vector<std::pair<std::string, std::string>> environment_set;
  TransportChoice transport = TransportChoice::automatic;
  // With transport tcp: listen on this port instead of one picked per launch (0). A fixed port
  // that is taken fails the start; a picked one is picked again.
  std::uint16_t port = 0;
};

// -ngl for "all layers": every build accepts a number and clamps it to the model's layer count,
// while the "all" keyword only exists in newer builds.
inline constexpr std::int32_t kAllGpuLayers = 999;

// The environment variable llama-server reads its API key from (same as --api-key), so the key
// never appears in argv (visible to every user through /proc/<pid>/cmdline).
inline constexpr std::string_view kApiKeyVariable = "LLAMA_API_KEY";

// The flags the supervisor owns: extra_args may not contain them, because overriding any of
// them would break transport, authentication or the slot/context accounting.
std::vector<std::string> managed_flags();

// The argv of the child without argv[0] (the launcher puts the binary there):
//   -m <model> -np <slots> -c <context_per_slot*slots> -ngl <n> [--no-webui] [--offline]
//   --metrics <listen.listen_arguments()> [--chat-template <t>] <extra_args...>
// --no-webui and --offline appear only when spec.features says the build has them. The API key
// of `listen` is not used (it goes through the environment).
// Throws Error(invalid_argument) when the model path is empty, slots is 0, the total context
// overflows, `listen` does not fit the build (a UNIX socket without support, a socket path
// containing ',', which llama-server splits --host at), or extra_args contain a managed flag.
std::vector<std::string> build_server_arguments(const LaunchSpec& spec, const ServerEndpoint& listen);

// The child's environment as "NAME=value" strings: `parent` (usually the host's environ)
// without inherited LLAMA_ARG_* variables and LLAMA_API_KEY (the host's own configuration must
// not silently reconfigure a server we manage), then spec.environment_remove applied, then
// spec.environment_set, then LLAMA_API_KEY=<api_key> last so nothing can override it.
// Throws Error(invalid_argument) for a variable name that is empty or contains '='.
std::vector<std::string> build_server_environment(const LaunchSpec& spec, const std::vector<std::string>& parent,
                                                  std::string_view api_key);

}  // namespace inference::llama_server
