// Fake sysfs trees for the rocm tests: the KFD topology and DRM render nodes of real machines,
// written into a fresh temporary directory that is removed again with the FakeSysfs.
// Ownership: FakeSysfs owns its directory. Thread-safety: one test thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "gpu_discovery.hpp"

namespace inference::rocm::test {

inline constexpr std::uint64_t kMiB = 1024ull * 1024;
inline constexpr std::uint64_t kGiB = 1024 * kMiB;

// One GPU as sysfs shows it.
struct FakeGpu {
  std::uint32_t gfx_target_version = 110000;
  std::uint32_t device_id = 0x744c;
  std::uint32_t simd_count = 192;
  std::uint32_t render_minor = 128;
  std::uint64_t vram_total = 24 * kGiB;
  std::uint64_t vram_used = 512 * kMiB;
  std::uint64_t gtt_total = 31 * kGiB;
};

// The RX 7800 XT of the field report (reported as gfx1100 by ROCm 7.2), and the Ryzen 9 9950X's
// integrated GPU: a 512 MiB carve-out and half the system RAM as GTT.
FakeGpu rx7800xt(std::uint32_t render_minor);
FakeGpu ryzen_9950x_igpu(std::uint32_t render_minor);

class FakeSysfs {
 public:
  FakeSysfs();
  ~FakeSysfs();
  FakeSysfs(const FakeSysfs&) = delete;
  FakeSysfs& operator=(const FakeSysfs&) = delete;

  // Adds topology node `node` as a CPU (simd_count 0, no DRM node).
  void add_cpu_node(std::uint32_t node);
  // Adds topology node `node` as `gpu` plus its renderD<minor> device files in sysfs and a
  // stand-in for its /dev/dri/renderD<minor> (a regular file: opens read-write).
  void add_gpu_node(std::uint32_t node, const FakeGpu& gpu);
  // Creates the stand-in for /dev/kfd.
  void create_kfd();
  // Writes (replacing) a file below the root, creating directories.
  void write(const std::filesystem::path& relative, const std::string& content);

  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path sysfs_root() const { return root_ / "sys"; }
  std::filesystem::path kfd_path() const { return root_ / "dev" / "kfd"; }
  std::filesystem::path dri_dir() const { return root_ / "dev" / "dri"; }
  DiscoveryPaths paths() const { return {sysfs_root(), kfd_path(), dri_dir()}; }
  std::filesystem::path node_properties(std::uint32_t node) const;
  std::filesystem::path drm_device(std::uint32_t render_minor) const;

 private:
  std::filesystem::path root_;
};

// A typical single-GPU workstation: node 0 CPU, node 1 an RX 7900 XTX; /dev/kfd present.
void make_single_gpu_machine(FakeSysfs& sysfs);
// The field report's machine: node 0 CPU, node 1 the RX 7800 XT, node 2 the 9950X iGPU.
void make_9950x_with_7800xt(FakeSysfs& sysfs);

}  // namespace inference::rocm::test
