// Which llama-server build drives the chosen AMD GPU, decided by asking the builds themselves
// (their --list-devices probe, server_devices.hpp) before anything is spawned:
//   hip     the HIP (ROCm) build: its ggml must have the ROCm runtime, and that runtime must see
//           the GPU (probed with HIP_VISIBLE_DEVICES=<HIP index>); /dev/kfd and the render
//           node must open read-write.
//   vulkan  the Vulkan build through Mesa's RADV: the card is found among the build's Vulkan
//           physical devices (see below) and pinned with GGML_VK_VISIBLE_DEVICES; the render
//           node must open read-write (/dev/kfd is not used).
//   auto    hip when the HIP build has the ROCm runtime and sees the GPU, else vulkan when a
//           Vulkan build is there and shows the card, else the HIP error (with the Vulkan one).
//
// Which Vulkan device is the sysfs GPU: ggml's device lines carry no PCI address, so the AMD
// Vulkan devices (description naming AMD or RADV, not software) are matched by position to the
// AMD GPUs of the KFD topology, integrated ones included: Mesa and KFD both enumerate in PCI
// order. When the counts differ the match is refused rather than guessed. With
// allow_software_device=1 software devices (lavapipe) count as AMD devices, so a machine
// without an AMD card can run this path; their physical indices come from probing one index
// at a time (GGML_VK_VISIBLE_DEVICES=<k>), since ggml lists CPU-type devices only when named.
//
// Ownership: plain values. Thread-safety: safe from any thread as long as the probe is.
// Cancellation: the probe blocks the caller (bounded by its timeout); nothing else waits.
#pragma once

#include <cstddef>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "amd_gpu.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "inference/llama_server/server_devices.hpp"
#include "rocm_options.hpp"

namespace inference::rocm {

// Runs `<binary> --list-devices` with extra environment variables: in production
// llama_server::probe_server_devices_blocking (cached), in tests a fake listing. Throws
// Error(child_start_failed) when the binary cannot be probed.
using DeviceProbe = std::function<llama_server::ServerDeviceList(const std::filesystem::path& binary,
                                                                 const llama_server::ProbeEnvironment& environment)>;

struct RuntimeChoice {
  Runtime runtime = Runtime::hip;  // hip or vulkan, never automatic
  std::filesystem::path binary;
  int vulkan_index = -1;              // the card's Vulkan physical-device index (vulkan only)
  llama_server::ServerDevice device;  // the card as the chosen build lists it (pinned)
  std::vector<std::string> devices;   // the probe's device lines, for Availability::devices
  std::string serving_device;         // "GPU 0 (gfx1100) via HIP (ROCm0: ...)", "... via Vulkan (Vulkan0: ...)"
  std::string reason;                 // which runtime and why: "runtime=auto: HIP, ..."
};

// The GPU builds scripts/setup installed next to the configured llama-server
// (configured_runtime_server_binary()); tests pass their own.
struct InstalledBuilds {
  std::optional<std::filesystem::path> hip;
  std::optional<std::filesystem::path> vulkan;

  static InstalledBuilds configured();
};

// Chooses the runtime for `gpu` (a GPU of `discovery`) per options.runtime, finds its binary
// (explicit_path is the server_path option; find_rocm_server_binary / find_vulkan_server_binary),
// checks device-node access (device_access.hpp) and probes. Throws Error(backend_unavailable)
// for a build without the runtime ("<binary> has no ROCm (HIP) support: its ggml loaded CPU
// only; ..."), a runtime that sees no GPU, a card not found among the Vulkan devices, or a
// device node that cannot be opened; Error(child_start_failed) when no binary is found or one
// cannot be probed.
RuntimeChoice choose_runtime(const GpuDiscovery& discovery, const GpuInfo& gpu, const RocmOptions& options,
                             const std::optional<std::filesystem::path>& explicit_path,
                             const llama_server::EnvLookup& env, const DeviceProbe& probe,
                             const InstalledBuilds& installed = InstalledBuilds::configured());

// The HIP half of choose_runtime() for a given binary (no auto fallback).
RuntimeChoice check_hip_binary(const std::filesystem::path& binary, const GpuInfo& gpu, const RocmOptions& options,
                               const DeviceProbe& probe);

// The Vulkan half of choose_runtime() for a given binary.
RuntimeChoice check_vulkan_binary(const std::filesystem::path& binary, const GpuDiscovery& discovery,
                                  const GpuInfo& gpu, const RocmOptions& options, const DeviceProbe& probe);

}  // namespace inference::rocm
