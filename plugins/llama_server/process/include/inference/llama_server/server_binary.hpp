// Finding the llama-server executable and reading which build it is (parse_server_version; the
// probe that runs it is server_version_probe.hpp), so the launch can adapt its flags to what
// that build understands.
//
// Ownership: plain values; nothing is kept open.
// Thread-safety: the functions are safe to call from any thread concurrently.
// Cancellation: nothing here waits; find_server_binary() only stat()s files.
#pragma once

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "inference/load_options.hpp"

namespace inference::llama_server {

// Reads one environment variable; std::nullopt when unset. Injected so tests need not touch the
// real environment.
using EnvLookup = std::function<std::optional<std::string>(std::string_view name)>;

// The real environment (getenv).
EnvLookup process_environment_lookup();

// Where the user can point us at a specific llama-server.
inline constexpr std::string_view kServerPathVariable = "LLAMA_SERVER_PATH";
// The name searched for on PATH.
inline constexpr std::string_view kServerBinaryName = "llama-server";

// The llama-server this build was configured with: CMake's INFERENCE_LLAMA_SERVER, by default
// the one scripts/setup installs into the source tree's .deps/. Compiled in (an absolute path),
// so the build tree, llmctl and an installed copy of the plugins all find it without any
// environment. std::nullopt when the build was configured with an empty value.
std::optional<std::filesystem::path> configured_server_binary();

// The GPU build of the same install, when scripts/setup --gpu <runtime> put one there: the file
// "llama-server-<runtime>" next to configured_default ("vulkan" -> .deps/llama-server/bin/
// llama-server-vulkan, "hip" -> llama-server-hip). std::nullopt when there is no configured
// default or that file is not an executable regular file.
std::optional<std::filesystem::path> configured_runtime_server_binary(
    std::string_view runtime,
    const std::optional<std::filesystem::path>& configured_default = configured_server_binary());

// Returns the llama-server to run, in this order of precedence:
//   1. explicit_path (the server_path backend option) when given,
//   2. $LLAMA_SERVER_PATH when set and non-empty,
//   3. configured_default (configured_server_binary()) when it is usable,
//   4. the first "llama-server" in a $PATH directory (empty and relative entries are skipped:
//      a daemon must not run whatever sits in its working directory).
// A location the user configured (1 or 2) is authoritative: when it is unusable we fail rather
// than silently run a different server. The configured default is not: when it is missing (say
// scripts/setup never ran) the search goes on to PATH. Candidates must be regular files
// executable by us (symlinks are followed). Throws Error(child_start_failed) whose context lists
// every place tried and why each was rejected (does not exist / is not a regular file / is not
// executable). The returned path is as given or found, not canonicalised (so wrapper scripts
// keep working).
std::filesystem::path find_server_binary(
    const std::optional<std::filesystem::path>& explicit_path, const EnvLookup& env = process_environment_lookup(),
    const std::optional<std::filesystem::path>& configured_default = configured_server_binary());

// Where the user can point us at a specific ggml-rpc-server (llama.cpp's RPC worker), and the
// name searched for on PATH.
inline constexpr std::string_view kRpcWorkerPathVariable = "GGML_RPC_SERVER_PATH";
inline constexpr std::string_view kRpcWorkerBinaryName = "ggml-rpc-server";

// The ggml-rpc-server of the configured install: the file beside the configured llama-server
// (scripts/install-llama-server-gpu rpc puts it there). std::nullopt when there is no configured
// llama-server; the file itself may be missing (find_rpc_worker_binary() says so).
std::optional<std::filesystem::path> configured_rpc_worker_binary(
    const std::optional<std::filesystem::path>& configured_server = configured_server_binary());

// The ggml-rpc-server to run, with find_server_binary()'s precedence and rules: explicit_path
// (llmctl rpc-worker --worker-path), then $GGML_RPC_SERVER_PATH, then configured_default, then
// PATH. Throws Error(child_start_failed) listing every place tried and saying how to install one.
std::filesystem::path find_rpc_worker_binary(
    const std::optional<std::filesystem::path>& explicit_path, const EnvLookup& env = process_environment_lookup(),
    const std::optional<std::filesystem::path>& configured_default = configured_rpc_worker_binary());

// The server_path backend option (engine_option::kServerPath) as the explicit_path above:
// std::nullopt when it is absent or empty.
std::optional<std::filesystem::path> explicit_server_path(const LoadOptions& options);

// What a llama-server build supports that the launch depends on.
struct ServerFeatures {
  bool unix_socket = false;  // --host <path>.sock listens on a UNIX domain socket
  bool no_webui = false;     // --no-webui
  bool offline = false;      // --offline (never reach the network for models)
};

// The build number at which each feature is known to be present. Builds are numbered by
// llama.cpp's release tags (bNNNN); a build at or past the threshold gets the feature. The
// thresholds are deliberately on the late side: missing a feature only costs a fallback
// (TCP instead of a UNIX socket, a flag left out), while passing an unknown flag makes the
// server refuse to start.
inline constexpr int kFirstBuildWithUnixSocket = 5500;
inline constexpr int kFirstBuildWithNoWebui = 5000;
inline constexpr int kFirstBuildWithOffline = 5500;

struct ServerVersion {
  // llama.cpp build number ("version: 6641 (0e1f838a)" -> 6641); 0 when it could not be read.
  int build = 0;
  // Short git commit as printed ("0e1f838a"); empty when absent.
  std::string commit;
  // The first line that carried the version, for diagnostics.
  std::string version_line;
  ServerFeatures features;
};

// Derives the features of a build. build == 0 means "unknown" (a source build without tags
// prints 0): such builds are assumed current and get every feature.
ServerFeatures features_for_build(int build) noexcept;

// Parses `llama-server --version` output (it prints on stderr, possibly after backend-loading
// lines). Returns std::nullopt when no "version: N (commit)" line is present.
std::optional<ServerVersion> parse_server_version(std::string_view output);

}  // namespace inference::llama_server
