// Which devices a llama-server binary can use: `llama-server --list-devices`, asked once per
// binary (and probe environment) like the version probe, so a backend knows before spawning
// whether the build it found has a GPU runtime at all and how much memory each device has.
//
// The probe runs `llama-server -lv 4 --list-devices`, which prints (stdout and stderr):
//   0.00.063.442 I load_backend: loaded CPU backend from /.../libggml-cpu-zen4.so
//   0.00.219.107 I load_backend: loaded Vulkan backend from /.../libggml-vulkan.so
//   0.00.079.862 E load_backend: failed to initialize backend from /.../libggml-vulkan.so: ...
//   Available devices:
//     Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits) (24105 MiB, 23433 MiB free)
// and "  (none)" for no device (the CPU itself is never listed). The load_backend lines (shown
// only at verbosity 4) tell a build without a GPU runtime ("no ROCm support") from a build whose
// runtime finds no device ("the HIP build sees no GPU"): the two failures users must tell apart.
//
// Ownership: plain values; the probe owns its child until it has been reaped.
// Thread-safety: every function may be called from any thread concurrently; the cache is a
// process-wide memo like server_version_cache.hpp (concurrent first calls may each probe).
// Cancellation: the awaitable probes never block their executor while the child runs (bounded
// by the timeout); cancelling one kills and reaps the child and throws Error(cancelled). The
// _blocking form runs the same probe on a private io_context and blocks its caller (for the
// synchronous Backend::available() and launch planners), at most `timeout`.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "inference/llama_server/server_version_probe.hpp"

namespace inference::llama_server {

// ggml has at most a handful of devices per machine; a listing longer than this is refused.
inline constexpr std::size_t kMaxListedDevices = 64;

struct ServerDevice {
  std::string name;         // ggml's device name: "Vulkan0", "ROCm0", "CUDA0"
  std::string description;  // "llvmpipe (LLVM 21.1.8, 256 bits)", "AMD Radeon RX 7800 XT"
  std::uint64_t total_mib = 0;
  std::uint64_t free_mib = 0;

  // The GPU runtime: the name without its trailing index ("Vulkan", "ROCm", "CUDA").
  std::string runtime() const;
  // A software implementation of a GPU API running on the CPU (Mesa's llvmpipe/lavapipe,
  // SwiftShader), judged by its description: --list-devices does not print the device type.
  bool software() const;
  // "Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits) (24105 MiB, 23433 MiB free)", as listed.
  std::string describe() const;
};

// What one probe learned.
struct ServerDeviceList {
  // ggml backends the binary loaded, by ggml's name: "CPU", "Vulkan", "ROCm", "CUDA", "RPC".
  std::vector<std::string> loaded_backends;
  // Backend libraries that were found but failed to initialise (no driver, no runtime), by file
  // name: "libggml-vulkan.so", "libggml-hip.so".
  std::vector<std::string> failed_backends;
  std::vector<ServerDevice> devices;

  // True when the build has that runtime at all: loaded (or one of its devices is listed: the log
  // line saying it loaded can be lost), or present but failing to initialise.
  // runtime is ggml's backend name ("Vulkan", "ROCm", "CUDA"); a failed library matches when its
  // file name contains the runtime in lower case, or "hip" for "ROCm".
  bool has_runtime(std::string_view runtime) const;
  // The devices of one runtime ("Vulkan"), in listed order.
  std::vector<ServerDevice> devices_of(std::string_view runtime) const;
};

// Parses the probe's output (stdout and stderr interleaved). std::nullopt when there is no
// "Available devices:" line (a build too old to know the flag); no devices for "(none)".
// Lines after the header that do not look like a device are skipped; more than
// kMaxListedDevices devices is treated as malformed (std::nullopt).
std::optional<ServerDeviceList> parse_server_devices(std::string_view output);

// Variables set for the probe on top of the real environment, e.g. {"GGML_VK_VISIBLE_DEVICES",
// "1"}: what a device sees depends on them, so they are part of the cache key.
using ProbeEnvironment = std::map<std::string, std::string>;

// Runs `<binary> -lv 4 --list-devices` once (explicit argv, no shell, stdin from /dev/null, output
// bounded by kVersionProbeOutputLimit). Throws Error(child_start_failed) naming the binary when
// it cannot be started, does not finish within `timeout` (killed and reaped), exits
// unsuccessfully or prints no device list; the detail holds the last lines of its output.
boost::asio::awaitable<ServerDeviceList> probe_server_devices(std::filesystem::path binary,
                                                              ProbeEnvironment environment = {},
                                                              std::chrono::milliseconds timeout = kVersionProbeTimeout);

// probe_server_devices(), remembered per binary file (identified as the version cache does:
// resolved path, device, inode, size, modification time) and environment. Failures are not
// remembered. Free memory is as it was at the first probe: callers that need it current
// (a fit check at load) use the uncached probe.
boost::asio::awaitable<ServerDeviceList> probe_server_devices_cached(
    std::filesystem::path binary, ProbeEnvironment environment = {},
    std::chrono::milliseconds timeout = kVersionProbeTimeout);

// probe_server_devices_cached() (or, with cached == false, probe_server_devices()) run to
// completion on a private io_context in the calling thread.
ServerDeviceList probe_server_devices_blocking(const std::filesystem::path& binary,
                                               const ProbeEnvironment& environment = {}, bool cached = true,
                                               std::chrono::milliseconds timeout = kVersionProbeTimeout);

}  // namespace inference::llama_server
