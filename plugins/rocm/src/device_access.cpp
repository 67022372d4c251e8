#include "device_access.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "inference/error.hpp"

namespace inference::rocm {

namespace {

// getgrgid_r's buffer: group entries with their member lists fit in far less on real systems.
constexpr std::size_t kGroupBufferBytes = 16 * 1024;

// The name of the group that owns `node`, or its number when /etc/group has no name for it.
std::optional<std::string> owner_group(const std::filesystem::path& node) {
  struct stat status {};
  if (::stat(node.c_str(), &status) != 0) return std::nullopt;
  struct group entry {};
  struct group* found = nullptr;
  std::string buffer(kGroupBufferBytes, '\0');
  if (::getgrgid_r(status.st_gid, &entry, buffer.data(), buffer.size(), &found) == 0 && found != nullptr) {
    return std::string(found->gr_name);
  }
  return std::to_string(status.st_gid);
}

}  // namespace

std::optional<std::string> device_node_problem(const std::filesystem::path& node) {
  const int fd = ::open(node.c_str(), O_RDWR | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd >= 0) {
    ::close(fd);
    return std::nullopt;
  }
  const int error = errno;
  std::string problem = "cannot open " + node.string() + " read-write: " + std::strerror(error);
  if (error == EACCES || error == EPERM) {
    if (const auto group = owner_group(node)) {
      problem += "; it belongs to group " + *group + ": add the user to group " + *group + " (usermod -aG " + *group +
                 " $USER) and log in again";
    }
  } else if (error == ENOENT) {
    problem += " (no such device node: is the amdgpu driver loaded?)";
  }
  return problem;
}

std::filesystem::path render_node(const DiscoveryPaths& paths, const GpuInfo& gpu) {
  return paths.dri_dir / ("renderD" + std::to_string(gpu.render_minor));
}

void require_device_access(const DiscoveryPaths& paths, const GpuInfo& gpu, bool needs_kfd) {
  std::string problems;
  if (needs_kfd) {
    if (const auto problem = device_node_problem(paths.kfd_device)) problems = *problem;
  }
  if (const auto problem = device_node_problem(render_node(paths, gpu))) {
    problems += (problems.empty() ? "" : "; ") + *problem;
  }
  if (!problems.empty()) throw Error(errc::backend_unavailable, problems);
}

}  // namespace inference::rocm
