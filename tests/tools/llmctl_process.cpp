#include "llmctl_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace llmctl_test {

namespace {

constexpr std::chrono::milliseconds kPollInterval{10};

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::filesystem::path make_temp_file(const char* tag) {
  std::string pattern =
      (std::filesystem::temp_directory_path() / (std::string("llmctl_test_") + tag + "_XXXXXX")).string();
  const int fd = ::mkstemp(pattern.data());
  if (fd < 0) throw std::runtime_error("mkstemp: " + std::string(std::strerror(errno)));
  ::close(fd);
  return pattern;
}

std::filesystem::path from_env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return (value != nullptr && *value != '\0') ? std::filesystem::path(value) : std::filesystem::path(fallback);
}

}  // namespace

std::vector<std::string> RunResult::out_lines() const { return split_lines(out); }
std::vector<std::string> RunResult::err_lines() const { return split_lines(err); }

std::filesystem::path llmctl_binary() {
  const char* dir = std::getenv("INFERENCE_TEST_BIN_DIR");
  if (dir != nullptr && *dir != '\0') return std::filesystem::path(dir) / "llmctl";
  return LLMCTL_TEST_BINARY;
}

std::filesystem::path plugin_dir() { return from_env_or("INFERENCE_TEST_PLUGIN_DIR", LLMCTL_TEST_PLUGIN_DIR); }

LlmctlProcess::LlmctlProcess(const std::vector<std::string>& args)
    : out_file_(make_temp_file("out")), err_file_(make_temp_file("err")) {
  const std::string binary = llmctl_binary().string();
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(binary.c_str()));
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);

  std::vector<char*> envp;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "INFERENCE_PLUGIN_PATH=", std::strlen("INFERENCE_PLUGIN_PATH=")) != 0)
      envp.push_back(*entry);
  }
  envp.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_file_.c_str(), O_WRONLY | O_TRUNC, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_file_.c_str(), O_WRONLY | O_TRUNC, 0);
  // The test runner may ignore or block SIGINT; llmctl must see it as a terminal would send it.
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  posix_spawnattr_setsigdefault(&attributes, &signals);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);

  const int rc = ::posix_spawn(&pid_, binary.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (rc != 0) throw std::runtime_error("posix_spawn " + binary + ": " + std::strerror(rc));
}

LlmctlProcess::~LlmctlProcess() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  std::error_code ignored;
  std::filesystem::remove(out_file_, ignored);
  std::filesystem::remove(err_file_, ignored);
}

void LlmctlProcess::send_signal(int signal) const { ::kill(pid_, signal); }

bool LlmctlProcess::wait_for_output(std::size_t bytes, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    std::error_code ec;
    if (std::filesystem::file_size(out_file_, ec) >= bytes && !ec) return true;
    std::this_thread::sleep_for(kPollInterval);
  }
  return false;
}

std::string LlmctlProcess::output_so_far() const {
  std::ifstream file(out_file_);
  return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

bool LlmctlProcess::wait_for_signal_handler(int signal, std::chrono::milliseconds timeout) const {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const std::string status_file = "/proc/" + std::to_string(pid_) + "/status";
  const std::string caught_field = "SigCgt:";
  while (std::chrono::steady_clock::now() < deadline) {
    std::ifstream status(status_file);
    for (std::string line; std::getline(status, line);) {
      if (line.rfind(caught_field, 0) != 0) continue;
      const auto mask = std::stoull(line.substr(caught_field.size()), nullptr, 16);
      if ((mask >> (signal - 1)) & 1U) return true;
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  return false;
}

RunResult LlmctlProcess::wait() {
  RunResult result;
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  reaped_ = true;
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) result.exit_code = -WTERMSIG(status);
  result.out = read_file(out_file_);
  result.err = read_file(err_file_);
  return result;
}

RunResult run_llmctl(const std::vector<std::string>& args) {
  LlmctlProcess process(args);
  return process.wait();
}

}  // namespace llmctl_test
