#include "inference/llama_server/server_endpoint.hpp"

#include <sys/un.h>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

// llama-server listens on a UNIX socket only when --host ends in this suffix.
constexpr std::string_view kSocketSuffix = ".sock";
// sun_path holds the path and its terminating NUL.
constexpr std::size_t kMaxSocketPathBytes = sizeof(sockaddr_un::sun_path) - 1;

}  // namespace

ServerEndpoint::ServerEndpoint(std::variant<std::filesystem::path, std::uint16_t> address, std::string api_key)
    : address_(std::move(address)), api_key_(std::move(api_key)) {}

ServerEndpoint ServerEndpoint::unix_socket(std::filesystem::path path, std::string api_key) {
  const std::string& text = path.native();
  if (text.empty()) {
    throw Error(errc::invalid_argument, "llama-server socket path is empty");
  }
  if (!text.ends_with(kSocketSuffix)) {
    throw Error(errc::invalid_argument,
                "llama-server socket path " + text + " must end in \"" + std::string(kSocketSuffix) + "\"");
  }
  if (text.size() > kMaxSocketPathBytes) {
    throw Error(errc::invalid_argument, "llama-server socket path " + text + " is longer than " +
                                            std::to_string(kMaxSocketPathBytes) + " bytes");
  }
  return ServerEndpoint(std::move(path), std::move(api_key));
}

ServerEndpoint ServerEndpoint::tcp(std::uint16_t port, std::string api_key) {
  if (port == 0) {
    throw Error(errc::invalid_argument, "llama-server TCP port must not be 0");
  }
  return ServerEndpoint(port, std::move(api_key));
}

std::string ServerEndpoint::host_header() const {
  if (is_unix_socket()) {
    return "localhost";
  }
  return std::string(kLoopbackAddress) + ":" + std::to_string(port());
}

std::string ServerEndpoint::describe() const {
  if (is_unix_socket()) {
    return "unix:" + socket_path().native();
  }
  return "http://" + host_header();
}

std::vector<std::string> ServerEndpoint::listen_arguments() const {
  if (is_unix_socket()) {
    return {"--host", socket_path().native()};
  }
  return {"--host", std::string(kLoopbackAddress), "--port", std::to_string(port())};
}

}  // namespace inference::llama_server
