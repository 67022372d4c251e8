// Looking at this process and its children from /proc, the way an operator would: the children
// of every thread (zombies included), which of them is a llama-server, and resident memory.
//
// Ownership: plain values and free functions. Thread-safety: every function may be called from
// any thread; each reads /proc afresh. Nothing here reaps a child (that would hide a zombie).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace inference::soak {

struct ChildProcess {
  pid_t pid = 0;
  char state = '?';               // from /proc/<pid>/stat: R, S, D, Z (zombie), ...
  std::string name;               // basename of argv[0], or of the executable when argv is empty
  std::vector<std::string> argv;  // empty for a zombie
};

// Every child of every thread of this process (llama-server is spawned by whichever thread ran
// the supervisor, and /proc/<pid>/task/<tid>/children lists children per thread).
std::vector<ChildProcess> list_children();

// The running (not zombie) llama-server child, if there is exactly one; recognised by an
// argument or /proc/<pid>/exe whose basename is llama-server (the .deps wrapper execs the
// dynamic loader, so argv[0] and the exe alone would say ld-linux).
std::optional<ChildProcess> find_server_child();

// Resident set size of this process in bytes (VmRSS of /proc/self/status), and its peak (VmHWM).
uint64_t resident_bytes();
uint64_t peak_resident_bytes();

// The bytes of a /proc file (empty when unreadable), and NUL-separated fields (cmdline, environ).
std::string read_proc_file(const std::string& path);
std::vector<std::string> split_nul(const std::string& text);

// One line per child: "pid 123 state Z name llama-server".
std::string describe(const std::vector<ChildProcess>& children);

}  // namespace inference::soak
