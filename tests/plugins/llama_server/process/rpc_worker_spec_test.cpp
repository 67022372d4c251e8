#include "inference/llama_server/rpc_worker_spec.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

RpcWorkerSpec spec_on(std::string host, bool allow_remote_bind = false) {
  RpcWorkerSpec spec;
  spec.host = std::move(host);
  spec.port = 50101;
  spec.allow_remote_bind = allow_remote_bind;
  return spec;
}

// The context of the Error(invalid_argument) check_rpc_worker_spec() throws; empty when none.
std::string refusal(const RpcWorkerSpec& spec) {
  try {
    check_rpc_worker_spec(spec);
  } catch (const Error& error) {
    EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
    return error.context();
  }
  return {};
}

TEST(RpcWorkerSpecTest, LoopbackIsAll127Slash8AndIpv6Loopback) {
  for (const char* host : {"127.0.0.1", "127.0.0.2", "127.255.255.254", "::1", "::ffff:127.0.0.1"}) {
    EXPECT_TRUE(is_loopback_host(host)) << host;
  }
  for (const char* host : {"0.0.0.0", "::", "10.0.0.1", "192.0.2.7", "128.0.0.1", "localhost", "", "::ffff:10.0.0.1"}) {
    EXPECT_FALSE(is_loopback_host(host)) << host;
  }
}

TEST(RpcWorkerSpecTest, TheDefaultHostIsLoopbackAndAccepted) {
  RpcWorkerSpec spec;
  spec.port = 50101;
  EXPECT_EQ(spec.host, "127.0.0.1");
  EXPECT_EQ(refusal(spec), "");
}

TEST(RpcWorkerSpecTest, ANonLoopbackHostIsRefusedSayingWhatItWouldExpose) {
  EXPECT_THAT(refusal(spec_on("0.0.0.0")),
              AllOf(HasSubstr("refusing --host 0.0.0.0"), HasSubstr("no authentication"),
                    HasSubstr("anyone who can reach 0.0.0.0:50101"), HasSubstr("run computations"),
                    HasSubstr("read and write the worker's memory buffers"), HasSubstr("--allow-remote-bind")));
  EXPECT_THAT(refusal(spec_on("192.0.2.7")), HasSubstr("refusing --host 192.0.2.7"));
  EXPECT_THAT(refusal(spec_on("::")), HasSubstr("refusing --host ::"));
}

TEST(RpcWorkerSpecTest, AllowRemoteBindAcceptsANonLoopbackHost) {
  EXPECT_EQ(refusal(spec_on("0.0.0.0", true)), "");
  EXPECT_EQ(refusal(spec_on("192.0.2.7", true)), "");
}

TEST(RpcWorkerSpecTest, BadFlagsAreNamed) {
  EXPECT_THAT(refusal(spec_on("localhost", true)), HasSubstr("--host 'localhost' is not an IP address"));
  auto spec = spec_on("127.0.0.1");
  spec.port = 0;
  EXPECT_THAT(refusal(spec), HasSubstr("--port"));
  spec = spec_on("127.0.0.1");
  spec.threads = 0;
  EXPECT_THAT(refusal(spec), HasSubstr("--threads must be at least 1"));
  EXPECT_THAT(refusal(spec_on("::1")), HasSubstr("--host ::1: ggml-rpc-server listens on IPv4 addresses only"));
  EXPECT_THAT(refusal(spec_on("::", true)), HasSubstr("IPv4 addresses only"));
  spec = spec_on("127.0.0.1");
  spec.devices = {"CPU,Vulkan0"};
  EXPECT_THAT(refusal(spec), HasSubstr("--device 'CPU,Vulkan0'"));
}

TEST(RpcWorkerSpecTest, ArgumentsCarryEveryOption) {
  auto spec = spec_on("127.0.0.1");
  EXPECT_THAT(rpc_worker_arguments(spec), ElementsAre("-H", "127.0.0.1", "-p", "50101"));
  spec.threads = 4;
  spec.devices = {"Vulkan0", "CPU"};
  spec.cache = true;
  EXPECT_THAT(rpc_worker_arguments(spec),
              ElementsAre("-H", "127.0.0.1", "-p", "50101", "-t", "4", "-d", "Vulkan0,CPU", "-c"));
}

TEST(RpcWorkerSpecTest, AWildcardHostIsProbedOnLoopback) {
  EXPECT_EQ(rpc_worker_probe_host("0.0.0.0"), "127.0.0.1");
  EXPECT_EQ(rpc_worker_probe_host("::"), "::1");
  EXPECT_EQ(rpc_worker_probe_host("127.0.0.3"), "127.0.0.3");
}

TEST(RpcWorkerSpecTest, DeviceLinesAreSummarisedAndOtherLinesIgnored) {
  EXPECT_EQ(rpc_worker_device_summary("  CPU: AMD EPYC (24105 MiB, 24105 MiB free)"), "CPU: AMD EPYC, 24105 MiB");
  EXPECT_EQ(rpc_worker_device_summary("  Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits) (24105 MiB, 23358 MiB free)"),
            "Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits), 24105 MiB");
  EXPECT_EQ(rpc_worker_device_summary("  endpoint       : 127.0.0.1:50101"), std::nullopt);
  EXPECT_EQ(rpc_worker_device_summary("Devices:"), std::nullopt);
  EXPECT_EQ(rpc_worker_device_summary("Starting RPC server v8.0.0"), std::nullopt);
  EXPECT_EQ(rpc_worker_device_summary("  (24105 MiB, 24105 MiB free)"), std::nullopt);
}

}  // namespace
}  // namespace inference::llama_server
