#include "amd_gpu.hpp"

#include <gtest/gtest.h>

namespace inference::rocm {
namespace {

TEST(AmdGpu, GfxTargetNameFromKfdVersion) {
  EXPECT_EQ(gfx_target_name(110000), "gfx1100");
  EXPECT_EQ(gfx_target_name(110001), "gfx1101");
  EXPECT_EQ(gfx_target_name(100300), "gfx1030");
  EXPECT_EQ(gfx_target_name(90010), "gfx90a");
  EXPECT_EQ(gfx_target_name(90402), "gfx942");
  EXPECT_EQ(gfx_target_name(110501), "gfx1151");
}

TEST(AmdGpu, SmallCarveoutWithLargeGttIsIntegrated) {
  constexpr std::uint64_t kMiB = 1024 * 1024;
  EXPECT_TRUE(looks_integrated(512 * kMiB, 49152 * kMiB));
  EXPECT_FALSE(looks_integrated(16368 * kMiB, 49152 * kMiB));  // a discrete card has big GTT too
  EXPECT_FALSE(looks_integrated(512 * kMiB, 256 * kMiB));
}

TEST(AmdGpu, FreeVramNeverUnderflows) {
  GpuInfo gpu;
  gpu.vram_total = 100;
  gpu.vram_used = 150;
  EXPECT_EQ(gpu.vram_free(), 0u);
}

TEST(AmdGpu, OnlyDiscreteAmdGpusAreUsable) {
  GpuInfo gpu;
  gpu.vendor_id = kAmdVendorId;
  gpu.vram_total = 1;
  EXPECT_TRUE(gpu.usable());
  gpu.integrated = true;
  EXPECT_FALSE(gpu.usable());
  gpu.integrated = false;
  gpu.vendor_id = 0x10de;
  EXPECT_FALSE(gpu.usable());
}

}  // namespace
}  // namespace inference::rocm
