#include "device_access.hpp"

#include <grp.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <array>

#include "fake_sysfs.hpp"
#include "inference/error.hpp"

namespace inference::rocm {
namespace {

namespace fs = std::filesystem;
using test::FakeSysfs;
using ::testing::HasSubstr;

// The unprivileged account the check runs as when the tests run as root (root opens a mode-000
// file anyway, so a permission test as root would test nothing).
constexpr uid_t kNobody = 65534;

// device_node_problem(node) as a user outside the node's group: a forked child that drops to
// `nobody` when we are root (an ordinary user already is outside a root-owned 0000 node), and
// sends the answer back through a pipe.
std::string problem_as_unprivileged_user(const fs::path& node) {
  std::array<int, 2> pipe_fds{};
  if (::pipe(pipe_fds.data()) != 0) return "pipe failed";
  const pid_t child = ::fork();
  if (child == 0) {
    ::close(pipe_fds[0]);
    if (::geteuid() == 0 && (::setgroups(0, nullptr) != 0 || ::setgid(kNobody) != 0 || ::setuid(kNobody) != 0)) {
      ::_exit(2);
    }
    const std::string answer = device_node_problem(node).value_or("opened");
    const bool written = ::write(pipe_fds[1], answer.data(), answer.size()) == static_cast<ssize_t>(answer.size());
    ::_exit(written ? 0 : 1);
  }
  ::close(pipe_fds[1]);
  std::string answer;
  std::array<char, 1024> buffer{};
  for (ssize_t n; (n = ::read(pipe_fds[0], buffer.data(), buffer.size())) > 0;) answer.append(buffer.data(), n);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child failed to drop privileges or answer";
  return answer;
}

// The group a real render node belongs to when this system has one, else the file's own.
std::string give_render_group(const fs::path& node) {
  for (const char* name : {"render", "video"}) {
    if (const struct group* entry = ::getgrnam(name);
        entry != nullptr && ::chown(node.c_str(), -1, entry->gr_gid) == 0) {
      return name;
    }
  }
  struct stat status {};
  ::stat(node.c_str(), &status);
  const struct group* entry = ::getgrgid(status.st_gid);
  return entry != nullptr ? entry->gr_name : std::to_string(status.st_gid);
}

TEST(DeviceAccess, NodesThatOpenReadWriteAreFine) {
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  EXPECT_EQ(device_node_problem(sysfs.kfd_path()), std::nullopt);
  const GpuInfo gpu = discover_gpus(sysfs.paths()).gpus.front();
  EXPECT_EQ(render_node(sysfs.paths(), gpu), sysfs.dri_dir() / "renderD128");
  EXPECT_NO_THROW(require_device_access(sysfs.paths(), gpu, /*needs_kfd=*/true));
}

// The most common real failure: the user is not in the group owning /dev/kfd and renderD*.
TEST(DeviceAccess, UserOutsideTheNodesGroupIsToldWhichGroupToJoin) {
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  fs::permissions(sysfs.root(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  const fs::path node = sysfs.kfd_path();
  const std::string group = give_render_group(node);
  fs::permissions(node, fs::perms::none);  // like a 0660 root:render node, for anyone outside the group
  const std::string problem = problem_as_unprivileged_user(node);
  EXPECT_THAT(problem, HasSubstr("cannot open " + node.string() + " read-write: Permission denied"));
  EXPECT_THAT(problem, HasSubstr("it belongs to group " + group));
  EXPECT_THAT(problem,
              HasSubstr("add the user to group " + group + " (usermod -aG " + group + " $USER) and log in again"));
}

TEST(DeviceAccess, MissingRenderNodeSaysTheDriverMayNotBeLoaded) {
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  fs::remove(sysfs.dri_dir() / "renderD128");
  const GpuInfo gpu = discover_gpus(sysfs.paths()).gpus.front();
  try {
    require_device_access(sysfs.paths(), gpu, /*needs_kfd=*/false);
    ADD_FAILURE() << "a missing render node passed";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), make_error_code(errc::backend_unavailable));
    EXPECT_THAT(e.context(), HasSubstr("cannot open " + (sysfs.dri_dir() / "renderD128").string() +
                                       " read-write: No such file or directory (no such device node"));
  }
}

// Vulkan through RADV needs the render node only: an unusable /dev/kfd must not block it.
TEST(DeviceAccess, KfdIsCheckedOnlyForTheHipRuntime) {
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  fs::remove(sysfs.kfd_path());
  fs::create_directory(sysfs.kfd_path());  // EISDIR for every user, root included
  const GpuInfo gpu = discover_gpus(sysfs.paths()).gpus.front();
  EXPECT_NO_THROW(require_device_access(sysfs.paths(), gpu, /*needs_kfd=*/false));
  EXPECT_THROW(require_device_access(sysfs.paths(), gpu, /*needs_kfd=*/true), Error);
}

}  // namespace
}  // namespace inference::rocm
