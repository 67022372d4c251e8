// ServerStartGate: a llama-server launcher for tests whose server starts can be held back, so a
// test decides when a restarted replica comes back instead of racing its restart. The launcher
// is a shell script named llama-server in a private scratch directory (use it as the engine's
// server_path); it execs the real server with the same arguments. While the gate is closed, a
// server start (a command line with the engine's --metrics flag; `--version` probes pass) first
// blocks opening a FIFO, until open() lets it through: an event, not a poll. The pid stays the
// same across the exec, so the engine's pid is the real server's.
//
// Ownership: owns the scratch directory (launcher and FIFO). Thread-safety: close() and open()
// from one test thread. Cancellation: a start held at the gate is an ordinary child to the
// engine (killed at close(), and with PDEATHSIG with its host); the destructor opens the gate so
// nothing waits for a test that ended early.
#pragma once

#include <filesystem>

#include "support/scratch_directory.hpp"

namespace inference::llama_cpp::test {

class ServerStartGate {
 public:
  explicit ServerStartGate(const std::filesystem::path& real_server);
  ~ServerStartGate();
  ServerStartGate(const ServerStartGate&) = delete;
  ServerStartGate& operator=(const ServerStartGate&) = delete;

  // The launcher to pass as server_path.
  std::filesystem::path launcher() const { return scratch_ / "llama-server"; }
  // Server starts from now on wait at the gate. Throws std::runtime_error when mkfifo fails.
  void close();
  // Lets a start waiting at the gate through, and later starts start at once. Idempotent.
  void open() noexcept;

 private:
  std::filesystem::path fifo() const { return scratch_ / "gate.fifo"; }
  inference::test::ScratchDirectory scratch_{"server-start-gate"};
};

}  // namespace inference::llama_cpp::test
