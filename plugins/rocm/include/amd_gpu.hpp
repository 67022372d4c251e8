// GpuInfo: one AMD GPU as ROCm sees it (KFD topology node joined with its DRM render node), and
// the rules that classify it. Plain values and pure functions: safe from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "inference/llama_server/memory_fit.hpp"

namespace inference::rocm {

// PCI vendor id of AMD/ATI, as sysfs prints it ("0x1002").
inline constexpr std::uint32_t kAmdVendorId = 0x1002;

// The largest VRAM carve-out we still treat as an integrated GPU's. APUs reserve 512 MiB to
// 2 GiB of system RAM as "VRAM" (BIOS UMA frame buffer) and reach the rest through GTT; discrete
// cards worth running a model on have more. Integrated detection must not use free memory:
// ROCm reports system RAM as the iGPU's free memory.
inline constexpr std::uint64_t kMaxIntegratedCarveoutBytes = 2ull << 30;

struct GpuInfo {
  int index = -1;                        // HIP device index: GPU nodes numbered in KFD node order
  std::uint32_t kfd_node = 0;            // topology node number (<sysfs>/class/kfd/kfd/topology/nodes/N)
  std::uint32_t gfx_target_version = 0;  // KFD encoding, e.g. 110000
  std::string gfx_target;                // "gfx1100"
  std::uint32_t render_minor = 0;        // /dev/dri/renderD<minor>
  std::uint32_t simd_count = 0;
  std::uint32_t vendor_id = 0;
  std::uint32_t device_id = 0;
  std::uint64_t vram_total = 0;  // bytes (mem_info_vram_total)
  std::uint64_t vram_used = 0;   // bytes (mem_info_vram_used)
  std::uint64_t gtt_total = 0;   // bytes (mem_info_gtt_total)
  bool integrated = false;

  std::uint64_t vram_free() const noexcept { return vram_used >= vram_total ? 0 : vram_total - vram_used; }
  // An AMD GPU with dedicated VRAM that llama-server can be pinned to.
  bool usable() const noexcept { return vendor_id == kAmdVendorId && !integrated && vram_total > 0; }
  // One line for messages: "GPU 0 (gfx1100, discrete, 16368 MiB VRAM, 15800 MiB free, renderD128)".
  std::string describe() const;
};

// The LLVM target name of a KFD gfx_target_version: major*10000 + minor*100 + stepping, with
// the stepping written as one hex digit (110000 -> gfx1100, 90010 -> gfx90a, 90402 -> gfx942).
std::string gfx_target_name(std::uint32_t gfx_target_version);

// A small VRAM carve-out next to a larger GTT aperture is an integrated GPU.
bool looks_integrated(std::uint64_t vram_total, std::uint64_t gtt_total) noexcept;

// Bytes as whole MiB, for messages (shared with the engine's fit check).
using llama_server::to_mib;

}  // namespace inference::rocm
