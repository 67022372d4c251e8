#include "support/test_server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "inference/error.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "support/test_inputs.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): POSIX, not declared by <unistd.h> in C++

namespace inference::llama_server::test {
namespace {

constexpr std::string_view kLogFile = "server.log";
constexpr std::string_view kSocketFile = "llama.sock";
constexpr std::size_t kApiKeyBytes = 16;
constexpr std::chrono::milliseconds kStopPollInterval{10};
constexpr int kExecFailedStatus = 127;
// One compute thread: ggml's thread pool spin-waits, and on a 2-core machine shared with
// compilers and other tests two spinning threads slow generation down a hundredfold.
constexpr int kServerThreads = 1;

std::string server_binary() { return inference::test::llama_server_for_tests().string(); }

std::string model_path() { return inference::test::tiny_model_for_tests().string(); }

std::string random_api_key() {
  std::random_device random;
  std::string key;
  constexpr std::string_view kHex = "0123456789abcdef";
  for (std::size_t i = 0; i < kApiKeyBytes * 2; ++i) {
    key += kHex[random() % kHex.size()];
  }
  return key;
}

// A loopback port nobody listens on right now (the kernel's pick for an ephemeral bind).
std::uint16_t free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    throw std::runtime_error("socket() failed");
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("could not find a free loopback port");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

std::filesystem::path make_private_directory() {
  std::string pattern = (std::filesystem::temp_directory_path() / "llama-server-test-XXXXXX").native();
  if (::mkdtemp(pattern.data()) == nullptr) {  // mkdtemp creates it with mode 0700
    throw std::runtime_error("mkdtemp failed for " + pattern);
  }
  return pattern;
}

ServerEndpoint make_endpoint(const std::filesystem::path& directory, bool use_tcp) {
  if (use_tcp) {
    return ServerEndpoint::tcp(free_loopback_port(), random_api_key());
  }
  return ServerEndpoint::unix_socket(directory / kSocketFile, random_api_key());
}

}  // namespace

std::optional<std::string> TestServer::skip_reason() { return inference::test::llama_server_skip_reason(); }

TestServer::TestServer(TestServerOptions options)
    : directory_(make_private_directory()), endpoint_(make_endpoint(directory_, options.use_tcp)) {
  std::vector<std::string> arguments{server_binary(),
                                     "-m",
                                     model_path(),
                                     "-np",
                                     std::to_string(options.parallel_slots),
                                     "-c",
                                     std::to_string(options.context_size),
                                     "-t",
                                     std::to_string(kServerThreads),
                                     "--no-webui",
                                     "--offline"};
  if (!options.flags.empty()) {
    arguments.assign(1, server_binary());
    arguments.insert(arguments.end(), options.flags.begin(), options.flags.end());
  }
  for (std::string& argument : endpoint_.listen_arguments()) {
    arguments.push_back(std::move(argument));
  }
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (!std::string_view(*entry).starts_with("LLAMA_API_KEY=")) {
      environment.emplace_back(*entry);
    }
  }
  environment.push_back("LLAMA_API_KEY=" + endpoint_.api_key());

  // Everything the child needs is prepared before fork(): after it only async-signal-safe calls.
  std::vector<char*> argv;
  for (std::string& argument : arguments) {
    argv.push_back(argument.data());
  }
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (std::string& entry : environment) {
    envp.push_back(entry.data());
  }
  envp.push_back(nullptr);
  const std::string log_path = (directory_ / kLogFile).native();
  const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (log_fd < 0) {
    throw std::runtime_error("cannot create " + log_path);
  }
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ == 0) {
    // Die with the test process, even when it is killed by a ctest timeout.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(kExecFailedStatus);
    }
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(kExecFailedStatus);
  }
  ::close(log_fd);
  if (pid_ < 0) {
    throw std::runtime_error("fork failed");
  }
}

TestServer::~TestServer() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + kStopGracePeriod;
    int status = 0;
    while (::waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(kStopPollInterval);  // teardown of a child, not synchronisation
    }
  }
  std::error_code ignored;
  std::filesystem::remove_all(directory_, ignored);
}

std::string TestServer::output() const {
  std::ifstream file(directory_ / kLogFile);
  std::ostringstream content;
  content << file.rdbuf();
  return content.str();
}

boost::asio::awaitable<void> TestServer::wait_ready() {
  const auto executor = co_await boost::asio::this_coro::executor;
  boost::asio::steady_timer timer(executor);
  HttpConnection connection(executor, endpoint_);
  const auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("llama-server exited before it was ready:\n" + output());
    }
    try {
      const HttpResponse response = co_await connection.request(HttpMethod::get, "/health");
      if (response.status == 200) {
        co_return;
      }
    } catch (const Error&) {
      // Not listening yet, or 503 while the model loads: poll again.
    }
    if (std::chrono::steady_clock::now() > deadline) {
      throw std::runtime_error("llama-server was not ready after " + std::to_string(kReadyTimeout.count()) + " s:\n" +
                               output());
    }
    timer.expires_after(kReadyPollInterval);
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
}

}  // namespace inference::llama_server::test
