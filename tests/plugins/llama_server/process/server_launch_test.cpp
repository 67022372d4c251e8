#include "inference/llama_server/server_launch.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <string>

#include "inference/error.hpp"
#include "supervision_fixture.hpp"

namespace inference::llama_server {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using test::run_until_complete;
using ::testing::HasSubstr;

// A stand-in for llama-server that loses the port race for the first `clashes` launches (it
// prints the real server's bind error and exits 1) and then execs the real server. Every
// launch appends a line to the attempts file.
class PortClashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    INFERENCE_SKIP_WITHOUT_REAL_SERVER();
    std::string name = (fs::temp_directory_path() / "server-launch-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(name.data()), nullptr);
    root_ = name;
    wrapper_ = root_ / "llama-server";
    std::ofstream(wrapper_) << R"sh(#!/bin/sh
echo launch >> "$TEST_ATTEMPTS"
if [ "$(wc -l < "$TEST_ATTEMPTS")" -le "$TEST_CLASHES" ]; then
  echo "E srv  llama_server: couldn't bind HTTP server socket, hostname: 127.0.0.1, port: 1" >&2
  exit 1
fi
exec "$TEST_REAL_SERVER" "$@"
)sh";
    fs::permissions(wrapper_, fs::perms::owner_all);
  }
  void TearDown() override {
    std::error_code ignored;
    if (!root_.empty()) fs::remove_all(root_, ignored);
  }

  LaunchSpec spec_with_clashes(int clashes, TransportChoice transport) const {
    auto spec = test::tiny_model_spec();
    spec.binary = wrapper_;
    spec.transport = transport;
    spec.environment_set = {{"TEST_ATTEMPTS", (root_ / "attempts").string()},
                            {"TEST_CLASHES", std::to_string(clashes)},
                            {"TEST_REAL_SERVER", test::test_server_binary().string()}};
    return spec;
  }

  int attempts() const {
    std::ifstream file(root_ / "attempts");
    int lines = 0;
    for (std::string line; std::getline(file, line);) ++lines;
    return lines;
  }

  Error start_failure(asio::io_context& io, LaunchSpec spec) {
    try {
      run_until_complete(io, start_ready_server(io.get_executor(), std::move(spec)));
    } catch (const Error& error) {
      return error;
    }
    ADD_FAILURE() << "the server started";
    return Error(errc::invalid_argument);
  }

  fs::path root_;
  fs::path wrapper_;
};

TEST_F(PortClashTest, TcpPortClashIsRetriedWithANewPort) {
  asio::io_context io;
  auto process =
      run_until_complete(io, start_ready_server(io.get_executor(), spec_with_clashes(2, TransportChoice::tcp)));
  ASSERT_TRUE(process);
  EXPECT_EQ(attempts(), 3);
  EXPECT_FALSE(process->exit_status());
}

TEST_F(PortClashTest, RepeatedClashesGiveUpAfterTheRetryBudget) {
  asio::io_context io;
  const auto error = start_failure(io, spec_with_clashes(100, TransportChoice::tcp));
  EXPECT_TRUE(error.is(errc::child_start_failed)) << error.what();
  EXPECT_THAT(error.what(), HasSubstr("taken " + std::to_string(kMaxBindAttempts) + " times"));
  EXPECT_EQ(attempts(), kMaxBindAttempts);
}

TEST_F(PortClashTest, BindFailureOnAPrivateSocketIsNotRetried) {
  asio::io_context io;
  const auto error = start_failure(io, spec_with_clashes(1, TransportChoice::unix_socket));
  EXPECT_TRUE(error.is(errc::child_start_failed)) << error.what();
  EXPECT_THAT(error.detail(), HasSubstr("couldn't bind")) << "the server's last words";
  EXPECT_EQ(attempts(), 1);
}

}  // namespace
}  // namespace inference::llama_server
