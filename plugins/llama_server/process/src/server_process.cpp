#include "inference/llama_server/server_process.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <system_error>
#include <utility>

#include "child_spawn.hpp"
#include "child_watch.hpp"
#include "inference/error.hpp"
#include "inference/wait_queue.hpp"

namespace inference::llama_server {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace detail {

struct ServerProcessState {
  ServerProcessState(asio::strand<asio::any_io_executor> executor, std::size_t capacity, OutputRing::LineSink sink)
      : strand(std::move(executor)),
        ring(capacity,
             [this, sink = std::move(sink)](std::string_view line) {
               on_line(line);
               if (sink) sink(line);
             }),
        output_drained(strand, asio::steady_timer::time_point::max()) {}

  ServerProcessState(const ServerProcessState&) = delete;
  ServerProcessState& operator=(const ServerProcessState&) = delete;
  ~ServerProcessState() { remove_socket_directory(); }

  std::optional<ExitStatus> exit_snapshot() const {
    std::lock_guard lock(exit_mutex);
    return exit;
  }

  // Only while the child is not reaped: afterwards its group id could, in theory, be reused.
  void signal_group(int signal_number) const {
    if (!reaped.load()) ::kill(-pid, signal_number);
  }

  void remove_socket_directory() noexcept {
    if (!socket_directory) return;
    std::error_code ignored;
    std::filesystem::remove_all(*socket_directory, ignored);
    socket_directory.reset();
  }

  const asio::strand<asio::any_io_executor> strand;
  OutputRing ring;
  pid_t pid = -1;
  std::optional<ServerEndpoint> endpoint;  // set before the child starts, then immutable
  std::optional<std::filesystem::path> socket_directory;
  std::optional<SpawnedChild> child;  // its handle and pipe are bound to `strand`

  std::atomic<bool> reaped{false};
  bool output_closed = false;         // strand only
  asio::steady_timer output_drained;  // strand only; cancelled at the output's EOF

  mutable std::mutex exit_mutex;
  std::optional<ExitStatus> exit;  // guarded by exit_mutex; written once, on the strand

  // async_wait_exit() waiters from any executor (exit_mutex, then the queue's). A plain async
  // operation rather than a co_spawn onto the strand: Boost 1.81's co_spawn forwards
  // cancellation by posting a raw pointer to its signal, which races with completion
  // (heap-use-after-free when an `exit || timer` group's timer fires as the child exits).
  using ExitQueue = WaitQueue<void(std::exception_ptr, ExitStatus), pid_t>;
  ExitQueue exit_waiters{[](pid_t& child) {
    return std::make_exception_ptr(
        Error(errc::cancelled, "waiting for llama-server (pid " + std::to_string(child) + ") to exit"));
  }};

  // Output lines matching kReadinessMarkers so far, and their waiters (exit_mutex, then the
  // queue's); the exit wakes them too.
  uint64_t readiness_lines = 0;
  WaitQueue<void(std::exception_ptr)> readiness_waiters{[](std::monostate&) {
    return std::make_exception_ptr(Error(errc::cancelled, "waiting for llama-server's output"));
  }};

  // Records the exit and completes every waiter (called once, on the strand).
  void publish_exit(ExitStatus status) {
    std::lock_guard lock(exit_mutex);
    exit = status;
    exit_waiters.notify_all(std::move(status));
    readiness_waiters.notify_all();
  }

  // Every output line passes here (on the strand).
  void on_line(std::string_view line) {
    for (const auto marker : kReadinessMarkers) {
      if (line.find(marker) == std::string_view::npos) continue;
      std::lock_guard lock(exit_mutex);
      ++readiness_lines;
      readiness_waiters.notify_all();
      return;
    }
  }
};

}  // namespace detail

namespace {

using State = detail::ServerProcessState;

// Names the private socket directory "inference-llama-<owner pid>-XXXXXX", so a stray one is
// recognisable in /tmp and a later start can tell whether its owner is still alive.
constexpr std::string_view kSocketDirectoryPrefix = "inference-llama-";
// The widest "<pid>-" (pid_max is at most 2^22, seven digits).
constexpr std::string_view kWidestOwnerTag = "4194304-";
// Used when neither the option nor $TMPDIR gives a usable parent directory.
constexpr std::string_view kFallbackRuntimeDirectory = "/tmp";
// Where a socket path must fit, including its terminating NUL.
constexpr std::size_t kMaxSocketPath = sizeof(sockaddr_un::sun_path) - 1;
// Output that means the child could not bind its listening address.
constexpr std::array<std::string_view, 2> kBindFailureMarkers{"couldn't bind", "Address already in use"};

std::string hex(const unsigned char* bytes, std::size_t size) {
  static constexpr std::string_view kDigits = "0123456789abcdef";
  std::string text;
  text.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    text.push_back(kDigits[bytes[i] >> 4U]);
    text.push_back(kDigits[bytes[i] & 0x0FU]);
  }
  return text;
}

// 128 bits from the kernel's CSPRNG (getrandom draws from the /dev/urandom pool).
std::string random_api_key() {
  std::array<unsigned char, kApiKeyBytes> bytes{};
  std::size_t filled = 0;
  while (filled < bytes.size()) {
    const ssize_t n = ::getrandom(bytes.data() + filled, bytes.size() - filled, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw Error(errc::child_start_failed, std::string("cannot generate an API key: ") + std::strerror(errno));
    }
    filled += static_cast<std::size_t>(n);
  }
  return hex(bytes.data(), bytes.size());
}

bool usable_socket_parent(const std::filesystem::path& parent) {
  // mkdtemp's suffix is as long as its template's "XXXXXX".
  const std::string socket =
      (parent / (std::string(kSocketDirectoryPrefix) + std::string(kWidestOwnerTag) + "XXXXXX") / kSocketFileName)
          .string();
  return !parent.empty() && parent.is_absolute() && socket.size() <= kMaxSocketPath &&
         socket.find(',') == std::string::npos;
}

// The owner pid in a socket directory's name, or -1 when the name is not ours.
pid_t socket_directory_owner(const std::string& name) {
  if (name.rfind(kSocketDirectoryPrefix, 0) != 0) return -1;
  const std::string rest = name.substr(kSocketDirectoryPrefix.size());
  const auto dash = rest.find('-');
  if (dash == 0 || dash == std::string::npos || dash > kWidestOwnerTag.size() - 1) return -1;
  pid_t pid = 0;
  for (std::size_t i = 0; i < dash; ++i) {
    if (rest[i] < '0' || rest[i] > '9') return -1;
    pid = pid * 10 + (rest[i] - '0');
  }
  return pid > 0 ? pid : -1;
}

// Removes socket directories in `parent` left by processes of this user that are gone (a host
// killed before it could clean up). A directory whose owner pid was reused is kept: harmless.
void remove_stale_socket_directories(const std::filesystem::path& parent) noexcept {
  std::error_code ec;
  for (std::filesystem::directory_iterator it(parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    const pid_t owner = socket_directory_owner(name);
    if (owner < 0 || owner == ::getpid()) continue;
    struct stat info {};
    if (::lstat(it->path().c_str(), &info) != 0 || !S_ISDIR(info.st_mode) || info.st_uid != ::geteuid()) continue;
    if (::kill(owner, 0) == 0 || errno != ESRCH) continue;  // alive (or not ours to signal)
    std::error_code ignored;
    std::filesystem::remove_all(it->path(), ignored);
  }
}

std::filesystem::path make_socket_directory(const std::filesystem::path& requested) {
  std::filesystem::path parent = requested;
  if (parent.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");
    parent = tmpdir != nullptr ? std::filesystem::path(tmpdir) : std::filesystem::path();
    if (!usable_socket_parent(parent)) parent = kFallbackRuntimeDirectory;
  } else if (!usable_socket_parent(parent)) {
    throw Error(errc::child_start_failed, "runtime directory '" + parent.string() +
                                              "' is not absolute, contains ',' or is too long for a UNIX socket path");
  }
  remove_stale_socket_directories(parent);
  std::string name = (parent / (std::string(kSocketDirectoryPrefix) + std::to_string(::getpid()) + "-XXXXXX")).string();
  if (::mkdtemp(name.data()) == nullptr) {
    throw Error(errc::child_start_failed,
                "cannot create a socket directory in " + parent.string() + ": " + std::strerror(errno));
  }
  // mkdtemp already uses 0700; say it explicitly so no umask or ACL default can widen it.
  ::chmod(name.c_str(), S_IRWXU);
  return name;
}

// Asks the kernel for a free port on 127.0.0.1. The socket is closed before the child binds the
// port, so another process can take it in between (see the header).
std::uint16_t pick_free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    throw Error(errc::child_start_failed, std::string("cannot create a TCP socket: ") + std::strerror(errno));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  const bool ok = ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  const int error = errno;
  ::close(fd);
  if (!ok) {
    throw Error(errc::child_start_failed,
                std::string("cannot pick a free TCP port on 127.0.0.1: ") + std::strerror(error));
  }
  return ntohs(address.sin_port);
}

bool use_unix_socket(const LaunchSpec& spec) {
  if (spec.port != 0) {
    if (spec.transport == TransportChoice::unix_socket) {
      throw Error(errc::invalid_argument,
                  "a fixed TCP port (" + std::to_string(spec.port) + ") contradicts transport unix_socket");
    }
    return false;
  }
  switch (spec.transport) {
    case TransportChoice::automatic:
      return spec.features.unix_socket;
    case TransportChoice::unix_socket:
      if (!spec.features.unix_socket) {
        throw Error(errc::child_start_failed, spec.binary.string() + " cannot listen on a UNIX socket (build too old)");
      }
      return true;
    case TransportChoice::tcp:
      return false;
  }
  return false;
}

asio::awaitable<void> read_output(std::shared_ptr<State> state) {
  co_await pump_child_output(*state->child, state->ring, state->output_closed, state->output_drained);
}

asio::awaitable<void> watch_exit(std::shared_ptr<State> state) {
  ExitStatus status = co_await reap_child(*state->child, state->ring, state->output_closed, state->output_drained,
                                          [&state] { state->reaped = true; });
  state->publish_exit(std::move(status));
}

asio::awaitable<ExitStatus> wait_for_exit(std::shared_ptr<State> state) {
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>, void(std::exception_ptr, ExitStatus)>(
      [](auto handler, std::shared_ptr<State> state) {
        std::lock_guard lock(state->exit_mutex);
        auto waiter = State::ExitQueue::make_handler(std::move(handler));
        if (state->exit) return state->exit_waiters.complete(std::move(waiter), nullptr, *state->exit);
        state->exit_waiters.push(std::move(waiter), state->pid);
      },
      asio::use_awaitable, std::move(state));
}

asio::awaitable<void> wait_for_readiness_line(std::shared_ptr<State> state, uint64_t seen) {
  co_await asio::async_initiate<const asio::use_awaitable_t<>, void(std::exception_ptr)>(
      [seen](auto handler, std::shared_ptr<State> state) {
        std::lock_guard lock(state->exit_mutex);
        auto waiter = decltype(state->readiness_waiters)::make_handler(std::move(handler));
        if (state->exit || state->readiness_lines > seen) {
          return state->readiness_waiters.complete(std::move(waiter), nullptr);
        }
        state->readiness_waiters.push(std::move(waiter));
      },
      asio::use_awaitable, std::move(state));
}

// Runs on the strand. The shared state keeps everything alive even if the ServerProcess is
// moved from or destroyed meanwhile.
asio::awaitable<ExitStatus> terminate_on_strand(std::shared_ptr<State> state, std::chrono::milliseconds grace) {
  if (auto status = state->exit_snapshot()) co_return *status;
  state->signal_group(SIGTERM);
  asio::steady_timer grace_timer(state->strand, grace);
  auto first = co_await (wait_for_exit(state) || grace_timer.async_wait(asio::use_awaitable));
  if (first.index() == 0) co_return std::get<0>(std::move(first));
  state->signal_group(SIGKILL);
  co_return co_await wait_for_exit(state);
}

asio::awaitable<ExitStatus> terminate_from_anywhere(std::shared_ptr<State> state, std::chrono::milliseconds grace) {
  const auto strand = state->strand;
  co_return co_await asio::co_spawn(strand, terminate_on_strand(std::move(state), grace), asio::use_awaitable);
}

}  // namespace

std::string ExitStatus::describe() const {
  if (exit_code) return "exited with status " + std::to_string(*exit_code);
  if (signal) {
    const char* name = ::sigabbrev_np(*signal);
    return "was killed by signal " + std::to_string(*signal) +
           (name != nullptr ? " (" + std::string(name) + ")" : std::string());
  }
  return "exit status unknown";
}

ServerProcess::ServerProcess(asio::any_io_executor executor, const LaunchSpec& spec, ServerProcessOptions options)
    : state_(std::make_shared<State>(asio::make_strand(std::move(executor)), options.output_capacity,
                                     std::move(options.log_sink))) {
  State& state = *state_;
  // On a throw below, ~State removes the socket directory; nothing else exists yet.
  if (use_unix_socket(spec)) {
    state.socket_directory = make_socket_directory(options.runtime_directory);
    state.endpoint = ServerEndpoint::unix_socket(*state.socket_directory / kSocketFileName, random_api_key());
  } else {
    state.endpoint = ServerEndpoint::tcp(spec.port != 0 ? spec.port : pick_free_port(), random_api_key());
  }
  state.child.emplace(detail::spawn_child(
      state.strand, {spec.binary, build_server_arguments(spec, *state.endpoint),
                     build_server_environment(spec, detail::current_environment(), state.endpoint->api_key())}));
  state.pid = state.child->pid;
  asio::co_spawn(state.strand, read_output(state_), asio::detached);
  asio::co_spawn(state.strand, watch_exit(state_), asio::detached);
}

ServerProcess::ServerProcess(ServerProcess&&) noexcept = default;

ServerProcess& ServerProcess::operator=(ServerProcess&& other) noexcept {
  if (this != &other) {
    ServerProcess doomed(std::move(*this));  // our current child dies like in the destructor
    state_ = std::move(other.state_);
  }
  return *this;
}

ServerProcess::~ServerProcess() {
  // Synchronous on purpose: once we return, no child and no zombie may remain.
  if (state_) kill_now();
}

void ServerProcess::kill_now() noexcept {
  // The watcher (if still waiting) then finds the child reaped and reports an unknown status.
  if (!state_->reaped.exchange(true)) detail::kill_group_and_reap(state_->pid);
  state_->remove_socket_directory();
}

pid_t ServerProcess::pid() const noexcept { return state_->pid; }

const ServerEndpoint& ServerProcess::endpoint() const noexcept { return *state_->endpoint; }

const std::optional<std::filesystem::path>& ServerProcess::socket_directory() const noexcept {
  return state_->socket_directory;
}

const OutputRing& ServerProcess::output() const noexcept { return state_->ring; }

std::string ServerProcess::output_tail(std::size_t lines) const { return state_->ring.tail_text(lines); }

std::optional<ExitStatus> ServerProcess::exit_status() const { return state_->exit_snapshot(); }

bool ServerProcess::has_exited() const noexcept {
  if (state_->reaped.load()) return true;
  // WNOWAIT leaves a zombie for the watcher to reap; ECHILD means it was reaped in between.
  siginfo_t info{};
  const pid_t pid = state_->pid;
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return errno == ECHILD;
  return info.si_pid == pid;
}

bool ServerProcess::failed_to_bind() const {
  const std::string tail = state_->ring.tail_text(kErrorTailLines);
  for (const auto marker : kBindFailureMarkers) {
    if (tail.find(marker) != std::string::npos) return true;
  }
  return false;
}

asio::awaitable<ExitStatus> ServerProcess::async_wait_exit() { return wait_for_exit(state_); }

uint64_t ServerProcess::readiness_lines() const {
  std::lock_guard lock(state_->exit_mutex);
  return state_->readiness_lines;
}

asio::awaitable<void> ServerProcess::async_wait_readiness_line(uint64_t seen) {
  return wait_for_readiness_line(state_, seen);
}

asio::awaitable<ExitStatus> ServerProcess::terminate(std::chrono::milliseconds grace) {
  return terminate_from_anywhere(state_, grace);
}

}  // namespace inference::llama_server
