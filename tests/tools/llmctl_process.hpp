// LlmctlProcess: the built llmctl run as a child process, the way scripts use it. Its stdout and
// stderr go to temporary files (no pipe to fill up and block it); wait() collects them with the
// exit status. INFERENCE_PLUGIN_PATH is removed from the child's environment so every test says
// where its plugins come from.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

namespace llmctl_test {

struct RunResult {
  int exit_code = -1;  // the exit status, or -N when killed by signal N
  std::string out;
  std::string err;

  std::vector<std::string> out_lines() const;
  std::vector<std::string> err_lines() const;
};

// build/bin/llmctl and build/plugins, from the test environment or the build's fallbacks.
std::filesystem::path llmctl_binary();
std::filesystem::path plugin_dir();

class LlmctlProcess {
 public:
  explicit LlmctlProcess(const std::vector<std::string>& args);
  LlmctlProcess(const LlmctlProcess&) = delete;
  LlmctlProcess& operator=(const LlmctlProcess&) = delete;
  ~LlmctlProcess();  // kills the child if it is still running

  pid_t pid() const noexcept { return pid_; }
  void send_signal(int signal) const;
  // Waits until stdout holds at least `bytes` bytes; false on timeout.
  bool wait_for_output(std::size_t bytes, std::chrono::milliseconds timeout) const;
  // What the child wrote on stdout so far.
  std::string output_so_far() const;
  // Waits until the child catches `signal` (its handler is installed); false on timeout.
  bool wait_for_signal_handler(int signal, std::chrono::milliseconds timeout) const;
  RunResult wait();

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::filesystem::path out_file_;
  std::filesystem::path err_file_;
};

// Starts llmctl with args and waits for it.
RunResult run_llmctl(const std::vector<std::string>& args);

}  // namespace llmctl_test
