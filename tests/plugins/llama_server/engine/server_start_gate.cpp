#include "server_start_gate.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <string>

namespace inference::llama_cpp::test {

namespace fs = std::filesystem;

namespace {

// Single quotes protect every character but the quote itself, which the scratch paths and the
// server path of a test never contain (checked).
std::string quoted(const fs::path& path) {
  const std::string text = path.string();
  if (text.find('\'') != std::string::npos) throw std::runtime_error("unquotable path " + text);
  return "'" + text + "'";
}

}  // namespace

ServerStartGate::ServerStartGate(const fs::path& real_server) {
  std::ofstream script(launcher());
  // `read` blocks in opening the FIFO until the test opens it for writing (open()); a start that
  // finds the FIFO already gone goes straight on.
  script << "#!/bin/sh\n"
         << "gate=" << quoted(fifo()) << "\n"
         << "case \" $* \" in\n"
         << "  *' --metrics '*) if [ -p \"$gate\" ]; then read -r _ < \"$gate\" 2>/dev/null || true; fi ;;\n"
         << "esac\n"
         << "exec " << quoted(real_server) << " \"$@\"\n";
  script.close();
  if (!script) throw std::runtime_error("cannot write " + launcher().string());
  fs::permissions(launcher(), fs::perms::owner_all);
}

ServerStartGate::~ServerStartGate() { open(); }

void ServerStartGate::close() {
  if (::mkfifo(fifo().c_str(), 0600) != 0 && errno != EEXIST) {
    throw std::runtime_error("mkfifo " + fifo().string() + ": " + std::strerror(errno));
  }
}

void ServerStartGate::open() noexcept {
  // Non-blocking: succeeds only when a start is waiting in its open(); opening for writing wakes
  // it, and closing gives it end-of-file. Unlinking first would strand a waiting start.
  const int writer = ::open(fifo().c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
  ::unlink(fifo().c_str());
  if (writer >= 0) ::close(writer);
}

}  // namespace inference::llama_cpp::test
