// parse_rpc_workers(): the rpc engine option's worker list, parsed strictly; each refusal names
// the entry at fault.
#include "inference/llama_server/rpc_workers.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "inference/error.hpp"
#include "inference/llama_server/engine_options.hpp"

namespace inference::llama_server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Error refusal(std::string_view value) {
  try {
    parse_rpc_workers(value);
  } catch (const Error& error) {
    EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
    return error;
  }
  ADD_FAILURE() << "rpc=" << value << " was accepted";
  return Error(errc::internal_error);
}

TEST(RpcWorkersTest, HostsPortsAndBracketedIpv6AreParsedInOrder) {
  EXPECT_THAT(parse_rpc_workers("127.0.0.1:50101,worker-2.lan:50052,[::1]:7"),
              ElementsAre(RpcWorker{"127.0.0.1", 50101}, RpcWorker{"worker-2.lan", 50052}, RpcWorker{"::1", 7}));
}

TEST(RpcWorkersTest, TheArgumentAndTheServingDeviceSpellEveryWorkerAsGiven) {
  const auto workers = parse_rpc_workers("127.0.0.1:50101,[::1]:50102");
  EXPECT_EQ(rpc_argument(workers), "127.0.0.1:50101,[::1]:50102");
  EXPECT_EQ(rpc_serving_device(workers), "RPC: 127.0.0.1:50101, [::1]:50102 (+ local CPU)");
}

TEST(RpcWorkersTest, EachMalformedEntryIsRefusedNamingIt) {
  EXPECT_THAT(refusal("").what(), HasSubstr("rpc is empty"));
  EXPECT_THAT(refusal("127.0.0.1:1,,127.0.0.1:2").what(), HasSubstr("worker '' is empty"));
  EXPECT_THAT(refusal("127.0.0.1:1,").what(), HasSubstr("worker '' is empty"));
  EXPECT_THAT(refusal("127.0.0.1:1,host").what(), HasSubstr("worker 'host' has no port"));
  EXPECT_THAT(refusal("127.0.0.1:0").what(), HasSubstr("worker '127.0.0.1:0' has a bad port"));
  EXPECT_THAT(refusal("127.0.0.1:65536").what(), HasSubstr("worker '127.0.0.1:65536' has a bad port"));
  EXPECT_THAT(refusal("127.0.0.1:5x").what(), HasSubstr("worker '127.0.0.1:5x' has a bad port"));
  EXPECT_THAT(refusal("127.0.0.1:").what(), HasSubstr("worker '127.0.0.1:' has a bad port"));
  EXPECT_THAT(refusal(":50052").what(), HasSubstr("worker ':50052' has no host"));
  EXPECT_THAT(refusal("::1:50052").what(), HasSubstr("worker '::1:50052' is an IPv6 address without brackets"));
  EXPECT_THAT(refusal("[host]:50052").what(), HasSubstr("worker '[host]:50052' has brackets"));
  EXPECT_THAT(refusal("[]:50052").what(), HasSubstr("worker '[]:50052'"));
  EXPECT_THAT(refusal("a:1,b:2,a:1").what(), HasSubstr("worker 'a:1' is listed twice"));
}

TEST(RpcWorkersTest, MoreThanTheBoundIsRefusedNamingTheFirstEntryPastIt) {
  std::string value;
  for (std::size_t i = 1; i <= kMaxRpcWorkers; ++i) value += "h:" + std::to_string(i) + ",";
  EXPECT_EQ(parse_rpc_workers(value.substr(0, value.size() - 1)).size(), kMaxRpcWorkers);
  value += "h:" + std::to_string(kMaxRpcWorkers + 1);
  EXPECT_THAT(refusal(value).what(), HasSubstr("worker 'h:17' is one too many (at most 16 workers)"));
}

TEST(RpcWorkersTest, TheEngineOptionCarriesTheListAndRefusesReplicas) {
  EXPECT_THAT(parse_engine_options({{"rpc", "127.0.0.1:50101"}}).rpc_workers,
              ElementsAre(RpcWorker{"127.0.0.1", 50101}));
  EXPECT_TRUE(parse_engine_options({}).rpc_workers.empty());
  try {
    parse_engine_options({{"rpc", "127.0.0.1:50101"}, {"replicas", "2"}});
    ADD_FAILURE() << "rpc with two replicas was accepted";
  } catch (const Error& error) {
    EXPECT_TRUE(error.is(errc::invalid_argument));
    EXPECT_THAT(error.what(), HasSubstr("rpc cannot serve 2 replicas"));
  }
  try {
    parse_engine_options({{"rpc", "127.0.0.1"}});
    ADD_FAILURE() << "a worker without a port was accepted";
  } catch (const Error& error) {
    EXPECT_THAT(error.what(), HasSubstr("backend option rpc=127.0.0.1: worker '127.0.0.1' has no port"));
  }
}

}  // namespace
}  // namespace inference::llama_server
