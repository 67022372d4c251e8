// Whether this process may use the AMD GPU's device nodes: /dev/kfd (the HIP runtime's compute
// interface) and the card's /dev/dri/renderD<minor> (HIP and Vulkan both). A user outside the
// group that owns them (`render`, on older systems `video`) is the most common reason ROCm
// "sees no GPU"; checking before the launch lets the message say exactly that.
//
// Ownership: plain values; each check opens the node and closes it again at once.
// Thread-safety: safe from any thread. Cancellation: open() on a device node does not block
// (O_NONBLOCK).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "amd_gpu.hpp"
#include "gpu_discovery.hpp"

namespace inference::rocm {

// Why `node` cannot be opened read-write by this process, or std::nullopt when it can. The text
// names the node and the errno text; for EACCES/EPERM also the group that owns the node and the
// fix: "add the user to group render (usermod -aG render $USER) and log in again".
//
// It really opens the node (O_RDWR) rather than asking access(): access() ignores ACLs and
// security modules, and says yes to root for any file, so only open() answers what the server
// will meet. Opening /dev/kfd creates the KFD process state every ROCm tool creates; closing the
// descriptor right away leaves nothing of it the child could inherit (O_CLOEXEC besides).
std::optional<std::string> device_node_problem(const std::filesystem::path& node);

// The render node of `gpu` below paths.dri_dir: <dri_dir>/renderD<minor>.
std::filesystem::path render_node(const DiscoveryPaths& paths, const GpuInfo& gpu);

// The nodes a runtime needs, all checked: /dev/kfd (paths.kfd_device) only when `needs_kfd` (the
// HIP runtime; Vulkan through RADV uses the render node alone), then the render node. Throws
// Error(backend_unavailable) with every problem, joined by "; ".
void require_device_access(const DiscoveryPaths& paths, const GpuInfo& gpu, bool needs_kfd);

}  // namespace inference::rocm
