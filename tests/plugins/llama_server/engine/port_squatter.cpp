// Test-only launcher placed in front of the REAL llama-server (never instead of it) to
// reproduce the TCP port race deterministically: on its first run (no marker file yet) it binds
// and listens on the --port the engine picked, writes the port into the marker, and execs the
// real server with that socket still open, so the real server fails to bind exactly as if
// another process had taken the port first. Later runs exec the real server directly.
//
// Environment: SQUAT_REAL_SERVER (the real llama-server), SQUAT_MARKER (the marker file).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

namespace {

constexpr int kUsageError = 2;
constexpr int kExecFailed = 127;

// Keeps 127.0.0.1:port listening in this process and, after exec, in the server (no CLOEXEC).
void occupy(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  if (fd < 0 || ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 || ::listen(fd, 1) != 0) {
    std::perror("port_squatter: cannot occupy the port");
  }
}

}  // namespace

int main(int argc, char** argv) {
  const char* real = std::getenv("SQUAT_REAL_SERVER");
  const char* marker = std::getenv("SQUAT_MARKER");
  if (real == nullptr || marker == nullptr) {
    std::fprintf(stderr, "port_squatter: SQUAT_REAL_SERVER and SQUAT_MARKER must be set\n");
    return kUsageError;
  }
  std::vector<char*> args{const_cast<char*>(real)};
  int port = 0;
  for (int i = 1; i < argc; ++i) {
    args.push_back(argv[i]);
    if (std::string(argv[i]) == "--port" && i + 1 < argc) port = std::atoi(argv[i + 1]);
  }
  args.push_back(nullptr);
  if (port != 0 && ::access(marker, F_OK) != 0) {
    occupy(port);
    std::ofstream(marker) << port << "\n";
  }
  ::execv(real, args.data());
  std::perror("port_squatter: exec");
  return kExecFailed;
}
