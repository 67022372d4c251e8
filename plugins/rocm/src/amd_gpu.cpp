#include "amd_gpu.hpp"

namespace inference::rocm {

std::string GpuInfo::describe() const {
  return "GPU " + std::to_string(index) + " (" + (gfx_target.empty() ? std::string("unknown gfx") : gfx_target) + ", " +
         (integrated ? "integrated" : "discrete") + ", " + std::to_string(to_mib(vram_total)) + " MiB VRAM, " +
         std::to_string(to_mib(vram_free())) + " MiB free, renderD" + std::to_string(render_minor) + ")";
}

std::string gfx_target_name(std::uint32_t gfx_target_version) {
  const std::uint32_t major = gfx_target_version / 10000;
  const std::uint32_t minor = (gfx_target_version / 100) % 100;
  const std::uint32_t stepping = gfx_target_version % 100;
  constexpr char kHexDigits[] = "0123456789abcdef";
  std::string name = "gfx" + std::to_string(major) + std::to_string(minor);
  if (stepping < 16) {
    name += kHexDigits[stepping];
  } else {
    name += std::to_string(stepping);
  }
  return name;
}

bool looks_integrated(std::uint64_t vram_total, std::uint64_t gtt_total) noexcept {
  return vram_total <= kMaxIntegratedCarveoutBytes && gtt_total > vram_total;
}

}  // namespace inference::rocm
