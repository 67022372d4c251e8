#include "gpu_discovery.hpp"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <optional>
#include <system_error>

#include "inference/error.hpp"

namespace inference::rocm {

namespace fs = std::filesystem;

namespace {

constexpr int kHexBase = 16;

std::string_view trim(std::string_view text) {
  constexpr std::string_view kSpace = " \t\r\n";
  const auto first = text.find_first_not_of(kSpace);
  if (first == std::string_view::npos) return {};
  const auto last = text.find_last_not_of(kSpace);
  return text.substr(first, last - first + 1);
}

// Decimal, or hexadecimal with a 0x prefix (sysfs prints PCI ids that way).
std::optional<std::uint64_t> parse_unsigned(std::string_view text) {
  text = trim(text);
  int base = 10;
  if (text.starts_with("0x") || text.starts_with("0X")) {
    text.remove_prefix(2);
    base = kHexBase;
  }
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

[[noreturn]] void fail(const std::string& what) { throw Error(errc::backend_unavailable, what); }

std::uint64_t read_number(const fs::path& path) {
  const std::string text = read_sysfs_file(path);
  const auto value = parse_unsigned(text);
  if (!value) fail(path.string() + ": expected a number, found '" + std::string(trim(text).substr(0, 40)) + "'");
  return *value;
}

std::uint64_t required(const std::map<std::string, std::uint64_t>& properties, const std::string& key,
                       const fs::path& origin) {
  const auto it = properties.find(key);
  if (it == properties.end()) fail(origin.string() + ": no '" + key + "' entry");
  return it->second;
}

std::uint32_t narrow(std::uint64_t value, const std::string& key, const fs::path& origin) {
  if (value > UINT32_MAX) fail(origin.string() + ": '" + key + "' out of range");
  return static_cast<std::uint32_t>(value);
}

// Node directories in numeric order ("10" after "9"), as HIP enumerates them.
std::vector<std::uint32_t> topology_nodes(const fs::path& nodes_dir) {
  std::error_code ec;
  fs::directory_iterator it(nodes_dir, ec);
  if (ec) {
    fail("no KFD topology at " + nodes_dir.string() + " (" + ec.message() + "); is the amdgpu driver loaded?");
  }
  std::vector<std::uint32_t> nodes;
  for (; it != fs::directory_iterator(); it.increment(ec)) {
    if (ec) fail("cannot list " + nodes_dir.string() + ": " + ec.message());
    const auto number = parse_unsigned(it->path().filename().string());
    if (!number || *number > UINT32_MAX) continue;  // not a node directory
    if (nodes.size() == kMaxTopologyNodes)
      fail(nodes_dir.string() + ": more than " + std::to_string(kMaxTopologyNodes) + " nodes");
    nodes.push_back(static_cast<std::uint32_t>(*number));
  }
  std::sort(nodes.begin(), nodes.end());
  return nodes;
}

// Fills the DRM half of `gpu`; throws Error(backend_unavailable) naming the file at fault.
void read_drm_memory(const fs::path& sysfs_root, GpuInfo& gpu) {
  const fs::path device = sysfs_root / "class" / "drm" / ("renderD" + std::to_string(gpu.render_minor)) / "device";
  gpu.vram_total = read_number(device / "mem_info_vram_total");
  gpu.vram_used = read_number(device / "mem_info_vram_used");
  gpu.gtt_total = read_number(device / "mem_info_gtt_total");
  gpu.vendor_id = narrow(read_number(device / "vendor"), "vendor", device / "vendor");
  gpu.device_id = narrow(read_number(device / "device"), "device", device / "device");
  gpu.integrated = looks_integrated(gpu.vram_total, gpu.gtt_total);
}

std::string found_summary(const GpuDiscovery& discovery) {
  std::string text;
  for (const auto& gpu : discovery.gpus) text += (text.empty() ? "" : "; ") + gpu.describe();
  for (const auto& problem : discovery.problems) text += (text.empty() ? "" : "; ") + problem;
  return text.empty() ? "no GPU nodes in the KFD topology" : text;
}

}  // namespace

void require_kfd(const DiscoveryPaths& paths) {
  std::error_code ec;
  if (!fs::exists(paths.kfd_device, ec)) {
    throw Error(errc::backend_unavailable, "no " + paths.kfd_device.string() +
                                               ": the amdgpu kernel driver (KFD) is not loaded or this machine has "
                                               "no AMD GPU");
  }
}

std::string read_sysfs_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::error_code ec;
    const bool exists = fs::exists(path, ec);
    fail("cannot read " + path.string() + (exists ? " (permission denied?)" : " (missing)"));
  }
  std::string text(kMaxSysfsFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) fail("cannot read " + path.string());
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxSysfsFileBytes) {
    fail(path.string() + " is larger than " + std::to_string(kMaxSysfsFileBytes) + " bytes");
  }
  return text;
}

std::map<std::string, std::uint64_t> parse_kfd_properties(std::string_view text, std::string_view origin) {
  std::map<std::string, std::uint64_t> properties;
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const std::string_view line = trim(text.substr(0, newline));
    text = newline == std::string_view::npos ? std::string_view() : text.substr(newline + 1);
    if (line.empty()) continue;
    const auto space = line.find_first_of(" \t");
    const auto value = space == std::string_view::npos ? std::nullopt : parse_unsigned(line.substr(space + 1));
    if (!value) fail(std::string(origin) + ": malformed line '" + std::string(line.substr(0, 60)) + "'");
    properties[std::string(line.substr(0, space))] = *value;
  }
  return properties;
}

DiscoveryPaths discovery_paths_from_environment(const llama_server::EnvLookup& env) {
  DiscoveryPaths paths;
  if (const auto root = env(kSysfsRootVariable); root && !root->empty()) paths.sysfs_root = *root;
  if (const auto kfd = env(kKfdPathVariable); kfd && !kfd->empty()) paths.kfd_device = *kfd;
  if (const auto dri = env(kDriDirVariable); dri && !dri->empty()) paths.dri_dir = *dri;
  return paths;
}

GpuDiscovery discover_gpus(const DiscoveryPaths& paths) {
  const fs::path nodes_dir = paths.sysfs_root / "class" / "kfd" / "kfd" / "topology" / "nodes";
  GpuDiscovery discovery;
  int next_index = 0;
  for (const std::uint32_t node : topology_nodes(nodes_dir)) {
    const fs::path file = nodes_dir / std::to_string(node) / "properties";
    const auto properties = parse_kfd_properties(read_sysfs_file(file), file.string());
    GpuInfo gpu;
    gpu.simd_count = narrow(required(properties, "simd_count", file), "simd_count", file);
    if (gpu.simd_count == 0) continue;  // a CPU node: HIP does not number it
    gpu.index = next_index++;
    gpu.kfd_node = node;
    gpu.gfx_target_version = narrow(required(properties, "gfx_target_version", file), "gfx_target_version", file);
    gpu.gfx_target = gfx_target_name(gpu.gfx_target_version);
    gpu.render_minor = narrow(required(properties, "drm_render_minor", file), "drm_render_minor", file);
    try {
      read_drm_memory(paths.sysfs_root, gpu);
    } catch (const Error& e) {
      discovery.problems.push_back("GPU " + std::to_string(gpu.index) + " (" + gpu.gfx_target +
                                   ") unreadable: " + e.context());
      continue;
    }
    discovery.gpus.push_back(std::move(gpu));
  }
  return discovery;
}

const GpuInfo& select_gpu(const GpuDiscovery& discovery, int requested) {
  if (requested >= 0) {
    const auto it = std::find_if(discovery.gpus.begin(), discovery.gpus.end(),
                                 [&](const GpuInfo& gpu) { return gpu.index == requested; });
    if (it == discovery.gpus.end()) {
      throw Error(errc::invalid_argument,
                  "device " + std::to_string(requested) + " is not a readable GPU; found: " + found_summary(discovery));
    }
    if (!it->usable()) {
      throw Error(errc::invalid_argument, "device " + std::to_string(requested) +
                                              " is not a usable discrete AMD GPU: " + it->describe() +
                                              " (an integrated GPU's memory is system RAM; llama-server on it fails)");
    }
    return *it;
  }
  const GpuInfo* best = nullptr;
  for (const auto& gpu : discovery.gpus) {
    if (gpu.usable() && (best == nullptr || gpu.vram_free() > best->vram_free())) best = &gpu;
  }
  if (best == nullptr) {
    throw Error(errc::backend_unavailable, "no discrete AMD GPU; found: " + found_summary(discovery));
  }
  return *best;
}

}  // namespace inference::rocm
