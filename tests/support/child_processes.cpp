#include "support/child_processes.hpp"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

namespace inference::test {

namespace fs = std::filesystem;

namespace {

// How often /proc is scanned while waiting for a child to appear: a llama-server takes hundreds
// of milliseconds to load, so a millisecond finds it early in its start.
constexpr std::chrono::milliseconds kScanInterval{1};
// Text only a started server's command line holds (the engine always passes it).
constexpr std::string_view kServerBinaryName = "llama-server";
constexpr std::string_view kStartedServerFlag = "--metrics";

// A process may vanish between listing /proc and reading its files: libstdc++'s filebuf then
// throws from underflow (ESRCH) whatever the stream's exception mask. Such a process has no
// content to report.
std::string read_file(const fs::path& path) {
  try {
    std::ifstream in(path, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  } catch (const std::ios_base::failure&) {
    return {};
  }
}

// "pid (comm) S ppid ...": comm may hold spaces and parentheses, so parse after the last ')'.
bool parse_stat(const std::string& stat, char& state, pid_t& parent) {
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream rest(stat.substr(close + 1));
  long ppid = 0;
  if (!(rest >> state >> ppid)) return false;
  parent = static_cast<pid_t>(ppid);
  return true;
}

}  // namespace

std::vector<ChildProcess> child_processes() { return child_processes_of(::getpid()); }

std::vector<ChildProcess> child_processes_of(pid_t self) {
  std::vector<ChildProcess> children;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/proc", ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    char state = '?';
    pid_t parent = 0;
    if (!parse_stat(read_file(entry.path() / "stat"), state, parent) || parent != self) continue;
    ChildProcess child;
    child.pid = static_cast<pid_t>(std::stol(name));
    child.state = state;
    child.command_line = read_file(entry.path() / "cmdline");
    for (char& c : child.command_line) {
      if (c == '\0') c = ' ';
    }
    children.push_back(std::move(child));
  }
  return children;
}

bool is_started_llama_server(const ChildProcess& child) {
  return child.command_line.find(kServerBinaryName) != std::string::npos &&
         child.command_line.find(kStartedServerFlag) != std::string::npos;
}

std::vector<ChildProcess> llama_server_children() { return llama_server_children_of(::getpid()); }

std::vector<ChildProcess> llama_server_children_of(pid_t parent) {
  std::vector<ChildProcess> servers;
  for (auto& child : child_processes_of(parent)) {
    if (is_started_llama_server(child)) servers.push_back(std::move(child));
  }
  return servers;
}

std::optional<pid_t> wait_for_llama_server_child(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto servers = llama_server_children();
    if (!servers.empty()) return servers.front().pid;
    if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
    std::this_thread::sleep_for(kScanInterval);  // polling /proc: no event announces a new child
  }
}

::testing::AssertionResult no_child_process_left() {
  const auto children = child_processes();
  if (children.empty()) return ::testing::AssertionSuccess();
  auto failure = ::testing::AssertionFailure();
  failure << children.size() << " child process(es) left:";
  for (const auto& child : children) {
    failure << "\n  pid " << child.pid << " state " << child.state << ": " << child.command_line;
  }
  return failure;
}

::testing::AssertionResult wait_until_stopped(pid_t child) {
  siginfo_t report{};
  if (::waitid(P_PID, static_cast<id_t>(child), &report, WSTOPPED | WNOWAIT) != 0) {
    return ::testing::AssertionFailure() << "waitid(" << child << ", WSTOPPED): " << std::strerror(errno);
  }
  if (report.si_code != CLD_STOPPED) {
    return ::testing::AssertionFailure() << "child " << child << " reported si_code " << report.si_code
                                         << ", not stopped";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult wait_until_exited(pid_t child, std::chrono::milliseconds timeout) {
  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
  if (pidfd < 0) {
    if (errno == ESRCH) return ::testing::AssertionSuccess();  // reaped already
    return ::testing::AssertionFailure() << "pidfd_open(" << child << "): " << std::strerror(errno);
  }
  pollfd exited{pidfd, POLLIN, 0};
  const int ready = ::poll(&exited, 1, static_cast<int>(timeout.count()));
  ::close(pidfd);
  if (ready == 1) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "pid " << child << " still runs after " << timeout.count() << " ms";
}

std::vector<std::string> process_environment(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ", std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> entries;
  std::size_t start = 0;
  while (start < raw.size()) {
    const std::size_t end = raw.find('\0', start);
    entries.push_back(raw.substr(start, end - start));
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return entries;
}

}  // namespace inference::test
