// Integration: the tiny model loads in the real llama-server and generates tokens.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <boost/json/parse.hpp>

#include "inference/gguf/tiny_model.hpp"
#include "test_environment.hpp"

namespace inference::gguf {
namespace {

// Loading a sub-megabyte model takes well under a second; allow for a loaded CI machine.
constexpr auto kServerReadyTimeout = std::chrono::seconds(60);
constexpr auto kHealthPollInterval = std::chrono::milliseconds(100);
constexpr int kPredictTokens = 16;

uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// One HTTP/1.0 exchange; returns status code and body, or status 0 when nothing answers.
std::pair<int, std::string> http(uint16_t port, const std::string& method, const std::string& target,
                                 const std::string& body = {}) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {0, {}};
  }
  std::ostringstream request;
  request << method << ' ' << target << " HTTP/1.0\r\nHost: 127.0.0.1\r\n"
          << "Content-Type: application/json\r\nContent-Length: " << body.size() << "\r\n\r\n"
          << body;
  const auto text = request.str();
  (void)::send(fd, text.data(), text.size(), MSG_NOSIGNAL);
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) response.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  const auto space = response.find(' ');
  const auto header_end = response.find("\r\n\r\n");
  if (space == std::string::npos || header_end == std::string::npos) return {0, {}};
  return {std::stoi(response.substr(space + 1, 3)), response.substr(header_end + 4)};
}

std::string tail_of(const std::filesystem::path& log) {
  std::ifstream in(log);
  std::stringstream all;
  all << in.rdbuf();
  const auto text = all.str();
  constexpr std::size_t kTailBytes = 3000;
  return text.size() > kTailBytes ? text.substr(text.size() - kTailBytes) : text;
}

TEST(TinyModelLlamaServer, LoadsAndGeneratesTokens) {
  const auto server = test::llama_server_path();
  if (!server) {
    GTEST_SKIP() << "llama-server not installed (set LLAMA_SERVER_PATH or run scripts/setup)";
  }
  test::TempDir dir;
  const auto model = dir / "tiny.gguf";
  write_tiny_model(model, 1234);
  const auto log = dir / "server.log";
  const uint16_t port = free_port();

  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::FILE* out = std::freopen(log.c_str(), "w", stdout);
    (void)out;
    ::dup2(STDOUT_FILENO, STDERR_FILENO);
    const std::string port_text = std::to_string(port);
    ::execl(server->c_str(), "llama-server", "-m", model.c_str(), "--host", "127.0.0.1", "--port", port_text.c_str(),
            "-c", "512", "-np", "1", "-t", "2", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  struct Reaper {
    pid_t pid;
    ~Reaper() {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  } reaper{pid};

  const auto deadline = std::chrono::steady_clock::now() + kServerReadyTimeout;
  bool ready = false;
  while (!ready && std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, WNOHANG), 0) << "llama-server exited:\n" << tail_of(log);
    ready = http(port, "GET", "/health").first == 200;
    if (!ready) std::this_thread::sleep_for(kHealthPollInterval);
  }
  ASSERT_TRUE(ready) << "llama-server not ready:\n" << tail_of(log);

  const auto [status, body] =
      http(port, "POST", "/completion",
           R"({"prompt":"Once upon a time","n_predict":)" + std::to_string(kPredictTokens) + R"(,"seed":1})");
  ASSERT_EQ(status, 200) << body << "\n" << tail_of(log);
  const auto json = boost::json::parse(body).as_object();
  EXPECT_EQ(json.at("tokens_predicted").to_number<int>(), kPredictTokens) << body;
  std::cout << "llama-server generated: " << json.at("content").as_string() << "\n";

  const auto [chat_status, chat_body] =
      http(port, "POST", "/v1/chat/completions", R"({"messages":[{"role":"user","content":"hello"}],"max_tokens":8})");
  EXPECT_EQ(chat_status, 200) << chat_body << "\n" << tail_of(log);
}

}  // namespace
}  // namespace inference::gguf
