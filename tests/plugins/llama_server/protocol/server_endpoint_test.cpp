#include "inference/llama_server/server_endpoint.hpp"

#include <gtest/gtest.h>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

TEST(ServerEndpoint, DescribesAUnixSocketEndpoint) {
  const auto endpoint = ServerEndpoint::unix_socket("/run/inference/m1/llama.sock", "key");
  EXPECT_TRUE(endpoint.is_unix_socket());
  EXPECT_EQ(endpoint.socket_path(), "/run/inference/m1/llama.sock");
  EXPECT_EQ(endpoint.api_key(), "key");
  EXPECT_EQ(endpoint.host_header(), "localhost");
  EXPECT_EQ(endpoint.describe(), "unix:/run/inference/m1/llama.sock");
  EXPECT_EQ(endpoint.listen_arguments(), (std::vector<std::string>{"--host", "/run/inference/m1/llama.sock"}));
}

TEST(ServerEndpoint, DescribesALoopbackTcpEndpoint) {
  const auto endpoint = ServerEndpoint::tcp(18080, "key");
  EXPECT_FALSE(endpoint.is_unix_socket());
  EXPECT_EQ(endpoint.port(), 18080);
  EXPECT_EQ(endpoint.host_header(), "127.0.0.1:18080");
  EXPECT_EQ(endpoint.describe(), "http://127.0.0.1:18080");
  EXPECT_EQ(endpoint.listen_arguments(), (std::vector<std::string>{"--host", "127.0.0.1", "--port", "18080"}));
}

TEST(ServerEndpoint, RejectsSocketPathsLlamaServerWouldNotTreatAsSockets) {
  EXPECT_THROW((void)ServerEndpoint::unix_socket("", "k"), Error);
  EXPECT_THROW((void)ServerEndpoint::unix_socket("/tmp/llama.socket", "k"), Error);
  try {
    (void)ServerEndpoint::unix_socket("/tmp/" + std::string(120, 'd') + ".sock", "k");
    FAIL() << "expected invalid_argument";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument));
    EXPECT_NE(std::string(e.what()).find("longer than"), std::string::npos) << e.what();
  }
}

TEST(ServerEndpoint, RejectsPortZero) { EXPECT_THROW((void)ServerEndpoint::tcp(0, "k"), Error); }

}  // namespace
}  // namespace inference::llama_server
