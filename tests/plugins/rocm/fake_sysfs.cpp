#include "fake_sysfs.hpp"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace inference::rocm::test {

namespace fs = std::filesystem;

namespace {

std::string hex(std::uint32_t value) {
  char text[16];
  std::snprintf(text, sizeof text, "0x%04x", value);
  return text;
}

}  // namespace

FakeGpu rx7800xt(std::uint32_t render_minor) {
  FakeGpu gpu;
  gpu.gfx_target_version = 110000;
  gpu.device_id = 0x747e;
  gpu.simd_count = 120;
  gpu.render_minor = render_minor;
  gpu.vram_total = 17163091968ull;  // 16368 MiB
  gpu.vram_used = 295 * kMiB;
  gpu.gtt_total = 49 * kGiB;
  return gpu;
}

FakeGpu ryzen_9950x_igpu(std::uint32_t render_minor) {
  FakeGpu gpu;
  gpu.gfx_target_version = 110000;
  gpu.device_id = 0x13c0;
  gpu.simd_count = 4;
  gpu.render_minor = render_minor;
  gpu.vram_total = 512 * kMiB;
  gpu.vram_used = 30 * kMiB;
  gpu.gtt_total = 49 * kGiB;
  return gpu;
}

FakeSysfs::FakeSysfs() {
  std::string pattern = (fs::temp_directory_path() / "rocm-sysfs-XXXXXX").string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  root_ = pattern;
}

FakeSysfs::~FakeSysfs() {
  std::error_code ec;
  // Tests make files unreadable; give permissions back so the tree can be removed.
  for (auto it = fs::recursive_directory_iterator(root_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    fs::permissions(it->path(), fs::perms::owner_all, fs::perm_options::add, ec);
  }
  fs::remove_all(root_, ec);
}

void FakeSysfs::write(const fs::path& relative, const std::string& content) {
  const fs::path path = root_ / relative;
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

fs::path FakeSysfs::node_properties(std::uint32_t node) const {
  return sysfs_root() / "class/kfd/kfd/topology/nodes" / std::to_string(node) / "properties";
}

fs::path FakeSysfs::drm_device(std::uint32_t render_minor) const {
  return sysfs_root() / "class/drm" / ("renderD" + std::to_string(render_minor)) / "device";
}

void FakeSysfs::add_cpu_node(std::uint32_t node) {
  std::ostringstream text;
  text << "cpu_cores_count 32\nsimd_count 0\nmem_banks_count 1\ncaches_count 0\nio_links_count 1\n"
          "p2p_links_count 0\ncpu_core_id_base 0\nsimd_id_base 0\nmax_waves_per_simd 0\nlds_size_in_kb 0\n"
          "gds_size_in_kb 0\nnum_gws 0\nwave_front_size 0\narray_count 0\nsimd_arrays_per_engine 0\n"
          "cu_per_simd_array 0\nsimd_per_cu 0\nmax_slots_scratch_cu 0\ngfx_target_version 0\nvendor_id 0\n"
          "device_id 0\nlocation_id 0\ndomain 0\ndrm_render_minor 0\nhive_id 0\nnum_sdma_engines 0\n"
          "num_sdma_xgmi_engines 0\nnum_sdma_queues_per_engine 0\nnum_cp_queues 0\nmax_engine_clk_ccompute 5752\n";
  write(fs::relative(node_properties(node), root_), text.str());
}

void FakeSysfs::add_gpu_node(std::uint32_t node, const FakeGpu& gpu) {
  std::ostringstream text;
  text << "cpu_cores_count 0\nsimd_count " << gpu.simd_count
       << "\nmem_banks_count 1\ncaches_count 206\nio_links_count 1\np2p_links_count 0\ncpu_core_id_base 0\n"
          "simd_id_base 2147487744\nmax_waves_per_simd 16\nlds_size_in_kb 64\ngds_size_in_kb 0\nnum_gws 64\n"
          "wave_front_size 32\narray_count 6\nsimd_arrays_per_engine 2\ncu_per_simd_array 10\nsimd_per_cu 2\n"
          "max_slots_scratch_cu 32\ngfx_target_version "
       << gpu.gfx_target_version << "\nvendor_id 4098\ndevice_id " << gpu.device_id
       << "\nlocation_id 768\ndomain 0\ndrm_render_minor " << gpu.render_minor
       << "\nhive_id 0\nnum_sdma_engines 2\nnum_sdma_xgmi_engines 0\nnum_sdma_queues_per_engine 6\n"
          "num_cp_queues 8\nmax_engine_clk_fcompute 2254\nlocal_mem_size 0\nfw_version 2280\n"
          "capability 671588992\ndebug_prop 1495\nsdma_fw_version 21\nunique_id 0\nnum_xcc 1\n"
          "max_engine_clk_ccompute 5752\n";
  write(fs::relative(node_properties(node), root_), text.str());
  const fs::path device = fs::relative(drm_device(gpu.render_minor), root_);
  write(device / "mem_info_vram_total", std::to_string(gpu.vram_total) + "\n");
  write(device / "mem_info_vram_used", std::to_string(gpu.vram_used) + "\n");
  write(device / "mem_info_gtt_total", std::to_string(gpu.gtt_total) + "\n");
  write(device / "vendor", "0x1002\n");
  write(device / "device", hex(gpu.device_id) + "\n");
  write(fs::path("dev/dri") / ("renderD" + std::to_string(gpu.render_minor)), "");
}

void FakeSysfs::create_kfd() { write("dev/kfd", ""); }

void make_single_gpu_machine(FakeSysfs& sysfs) {
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, FakeGpu{});
  sysfs.create_kfd();
}

void make_9950x_with_7800xt(FakeSysfs& sysfs) {
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, rx7800xt(128));
  sysfs.add_gpu_node(2, ryzen_9950x_igpu(129));
  sysfs.create_kfd();
}

}  // namespace inference::rocm::test
