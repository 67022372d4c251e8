// ServerEndpoint: how to reach one llama-server: a UNIX domain socket path (preferred: no port
// to collide on, reachable only through the file system) or TCP on 127.0.0.1:port, plus the
// API key every request must carry. It also says how to tell llama-server to listen there.
//
// Ownership: a plain value. Thread-safety: immutable after construction; safe to share.
// Cancellation: not applicable.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace inference::llama_server {

class ServerEndpoint {
 public:
  // The loopback address llama-server listens on for TCP; never anything reachable from outside.
  static constexpr std::string_view kLoopbackAddress = "127.0.0.1";

  // Throws Error(invalid_argument) when the path is empty, does not end in ".sock" (llama-server
  // only treats such --host values as socket paths) or is too long for sockaddr_un.
  static ServerEndpoint unix_socket(std::filesystem::path path, std::string api_key);
  // Throws Error(invalid_argument) for port 0.
  static ServerEndpoint tcp(std::uint16_t port, std::string api_key);

  bool is_unix_socket() const noexcept { return std::holds_alternative<std::filesystem::path>(address_); }
  // Precondition: is_unix_socket().
  const std::filesystem::path& socket_path() const { return std::get<std::filesystem::path>(address_); }
  // Precondition: !is_unix_socket().
  std::uint16_t port() const { return std::get<std::uint16_t>(address_); }
  const std::string& api_key() const noexcept { return api_key_; }

  // The Host header value: "localhost" for a socket, "127.0.0.1:<port>" for TCP.
  std::string host_header() const;
  // For messages and logs: "unix:/run/x/llama.sock" or "http://127.0.0.1:8080".
  std::string describe() const;
  // The llama-server arguments that make it listen here: {"--host", path} or
  // {"--host", "127.0.0.1", "--port", "<port>"}. The key goes in LLAMA_API_KEY, not argv.
  std::vector<std::string> listen_arguments() const;

 private:
  ServerEndpoint(std::variant<std::filesystem::path, std::uint16_t> address, std::string api_key);

  std::variant<std::filesystem::path, std::uint16_t> address_;
  std::string api_key_;
};

}  // namespace inference::llama_server
