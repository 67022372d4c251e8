#include "process_probe.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <sstream>

namespace inference::soak {

namespace fs = std::filesystem;

namespace {

constexpr std::string_view kServerName = "llama-server";
// /proc/<pid>/status reports sizes in kB.
constexpr uint64_t kStatusUnitBytes = 1024;

// The state letter follows the command name, which is in parentheses and may itself contain
// spaces or parentheses: look after the last ')'.
char process_state(pid_t pid) {
  const std::string stat = read_proc_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return '?';
  return stat[close + 2];
}

std::string basename_of(const std::string& path) { return fs::path(path).filename().string(); }

uint64_t status_field_bytes(std::string_view field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(field) && line.size() > field.size() && line[field.size()] == ':') {
      std::istringstream value(line.substr(field.size() + 1));
      uint64_t kb = 0;
      value >> kb;
      return kb * kStatusUnitBytes;
    }
  }
  return 0;
}

}  // namespace

std::vector<ChildProcess> list_children() {
  std::set<pid_t> pids;
  std::error_code ec;
  for (const auto& task : fs::directory_iterator("/proc/self/task", ec)) {
    std::istringstream children(read_proc_file((task.path() / "children").string()));
    pid_t pid = 0;
    while (children >> pid) pids.insert(pid);
  }
  std::vector<ChildProcess> out;
  for (pid_t pid : pids) {
    ChildProcess child;
    child.pid = pid;
    child.state = process_state(pid);
    child.argv = split_nul(read_proc_file("/proc/" + std::to_string(pid) + "/cmdline"));
    if (!child.argv.empty()) {
      child.name = basename_of(child.argv.front());
    } else {
      std::error_code link_ec;
      child.name = basename_of(fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", link_ec).string());
    }
    out.push_back(std::move(child));
  }
  return out;
}

std::optional<ChildProcess> find_server_child() {
  std::optional<ChildProcess> found;
  for (auto& child : list_children()) {
    if (child.state == 'Z') continue;
    // The .deps wrapper execs the dynamic loader: argv is "ld-linux... --argv0 llama-server
    // ... /path/llama-server -m ...", so any argument naming llama-server identifies it.
    std::error_code ec;
    bool is_server =
        basename_of(fs::read_symlink("/proc/" + std::to_string(child.pid) + "/exe", ec).string()) == kServerName;
    for (const auto& arg : child.argv) is_server = is_server || basename_of(arg) == kServerName;
    if (!is_server) continue;
    if (found) return std::nullopt;  // two servers: not the state this program expects
    child.name = std::string(kServerName);
    found = std::move(child);
  }
  return found;
}

std::string read_proc_file(const std::string& path) {
  try {  // a process that vanished meanwhile makes libstdc++'s filebuf throw (ESRCH)
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } catch (const std::ios_base::failure&) {
    return {};
  }
}

std::vector<std::string> split_nul(const std::string& text) {
  std::vector<std::string> parts;
  std::string current;
  for (char c : text) {
    if (c == '\0') {
      parts.push_back(std::move(current));
      current.clear();
    } else {
      current.push_back(c);
    }
  }
  if (!current.empty()) parts.push_back(std::move(current));
  return parts;
}

uint64_t resident_bytes() { return status_field_bytes("VmRSS"); }

uint64_t peak_resident_bytes() { return status_field_bytes("VmHWM"); }

std::string describe(const std::vector<ChildProcess>& children) {
  std::string out;
  for (const auto& child : children) {
    if (!out.empty()) out += "\n";
    out += "pid " + std::to_string(child.pid) + " state " + std::string(1, child.state) + " name " +
           (child.name.empty() ? "?" : child.name);
  }
  return out;
}

}  // namespace inference::soak
