#include "child_spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/process/v2/process.hpp>
#include <boost/process/v2/stdio.hpp>
#include <cerrno>
#include <climits>
#include <cstring>
#include <system_error>
#include <utility>

#include "inference/error.hpp"
#include "supervision_context.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX declares it nowhere

namespace inference::llama_server::detail {
namespace {

namespace asio = boost::asio;
namespace bp = boost::process::v2;

// Files the server creates (the UNIX socket above all) are for our uid only.
constexpr mode_t kChildUmask = 077;

// Termination signals whose SIG_IGN disposition would survive exec and make the server ignore
// a graceful shutdown request or die on a harmless condition.
constexpr std::array kSignalsToReset{SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE};

class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) noexcept : fd_(fd) {}
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const noexcept { return fd_; }
  int release() noexcept { return std::exchange(fd_, -1); }
  void reset() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Runs in the forked child between fork and exec, so it may only make async-signal-safe calls
// and must not allocate.
struct ChildSetup {
  pid_t parent;

  template <typename Launcher>
  bp::error_code on_exec_setup(Launcher& launcher, const bp::filesystem::path& /*executable*/,
                               const char* const* /*argv*/) {
    if (::setpgid(0, 0) != 0) return last_error();
    if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) return last_error();
    // The parent may have died between fork() and prctl(): then no signal will ever come.
    if (::getppid() != parent) return bp::error_code(ESRCH, bp::system_category());
    ::umask(kChildUmask);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction default_action {};
    default_action.sa_handler = SIG_DFL;
    for (const int signal_number : kSignalsToReset) {
      ::sigaction(signal_number, &default_action, nullptr);
    }
    close_unlisted_descriptors(launcher.fd_whitelist);
    return {};
  }

  static bp::error_code last_error() { return {errno, bp::system_category()}; }

  // Process v2 1.81's close_all() only closes above the highest whitelisted descriptor (its gap
  // loop compares each entry with itself), so anything between 3 and its exec-error pipe would
  // leak into the server: close every gap here. No allocation: the list is scanned repeatedly.
  static void close_unlisted_descriptors(const std::vector<int>& keep) {
    unsigned int from = 3;
    for (;;) {
      int next = INT_MAX;
      for (const int fd : keep) {
        if (fd >= static_cast<int>(from) && fd < next) next = fd;
      }
      if (next == INT_MAX) {
        ::close_range(from, UINT_MAX, 0);
        return;
      }
      if (static_cast<unsigned int>(next) > from) {
        ::close_range(from, static_cast<unsigned int>(next) - 1, 0);
      }
      from = static_cast<unsigned int>(next) + 1;
    }
  }
};

[[noreturn]] void fail(const SpawnRequest& request, const std::string& reason) {
  throw Error(errc::child_start_failed, "cannot start " + request.executable.string() + ": " + reason);
}

// What fork_and_exec() hands back to the calling thread: plain descriptors, no Asio object
// (those are bound to the caller's executor, so the caller makes them).
struct ForkedChild {
  pid_t pid = -1;
  int pidfd = -1;
  int output = -1;  // the pipe's read end
};

ForkedChild fork_and_exec(const SpawnRequest& request) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) fail(request, std::strerror(errno));
  UniqueFd read_end(pipe_fds[0]);
  UniqueFd write_end(pipe_fds[1]);

  std::vector<const char*> envp;
  envp.reserve(request.environment.size() + 1);
  for (const auto& entry : request.environment) envp.push_back(entry.c_str());
  envp.push_back(nullptr);

  // Process v2 calls notify_fork() on the launching executor's context, which Asio forbids
  // while other threads use that context: launch on a private one, then adopt the pid.
  asio::io_context launch_context;
  bp::posix::default_launcher launcher;
  launcher.env = envp.data();
  bp::error_code ec;
  auto process = launcher(launch_context.get_executor(), ec, request.executable, request.arguments,
                          bp::process_stdio{nullptr, write_end.get(), write_end.get()}, ChildSetup{::getpid()});
  if (ec) {
    // On an exec failure 1.81 returns an empty process and never waits for the child it forked.
    if (launcher.pid > 0) kill_group_and_reap(launcher.pid);
    fail(request, ec.message());
  }
  const pid_t pid = process.id();
  process.detach();   // the private context's handle must not outlive it (and never kills)
  write_end.reset();  // the child holds the only write end now: EOF when it is gone

  const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (pidfd < 0) {
    const std::string reason = std::string("pidfd_open: ") + std::strerror(errno);
    kill_group_and_reap(pid);
    fail(request, reason);
  }
  return ForkedChild{pid, pidfd, read_end.release()};
}

}  // namespace

SpawnedChild spawn_child(const asio::any_io_executor& executor, const SpawnRequest& request) {
  ForkedChild forked;
  SupervisionContext::instance().run_on_thread([&] { forked = fork_and_exec(request); });
  return SpawnedChild{
      forked.pid,
      bp::basic_process_handle<asio::any_io_executor>(executor, forked.pid, forked.pidfd),
      asio::readable_pipe(executor, forked.output),
  };
}

void kill_group_and_reap(pid_t pid) noexcept {
  if (pid <= 0) return;
  ::kill(-pid, SIGKILL);
  ::kill(pid, SIGKILL);  // in case it died before setpgid() made the group
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

std::vector<std::string> current_environment() {
  std::vector<std::string> env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    env.emplace_back(*entry);
  }
  return env;
}

}  // namespace inference::llama_server::detail
