#include "inference/llama_server/launch_spec.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "inference/error.hpp"

namespace inference::llama_server {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view kKey = "0123456789abcdef0123456789abcdef";

LaunchSpec modern_spec() {
  LaunchSpec spec;
  spec.binary = "/opt/llama/bin/llama-server";
  spec.features = ServerFeatures{true, true, true};
  spec.model_path = "/models/tiny.gguf";
  spec.slots = 4;
  spec.context_per_slot = 2048;
  spec.gpu_layers = 0;
  return spec;
}

ServerEndpoint socket_endpoint() {
  return ServerEndpoint::unix_socket("/tmp/inference-llama-abc123/llama.sock", std::string(kKey));
}

// The value following `flag`, or "" when the flag is absent.
std::string value_of(const std::vector<std::string>& args, std::string_view flag) {
  const auto it = std::find(args.begin(), args.end(), flag);
  return it == args.end() || it + 1 == args.end() ? std::string() : *(it + 1);
}

template <typename F>
Error captured_error(F&& f) {
  try {
    f();
  } catch (const Error& error) {
    return error;
  }
  ADD_FAILURE() << "no Error thrown";
  return Error(errc::invalid_argument);
}

TEST(LaunchSpecTest, ArgumentsCarryModelSlotsTotalContextAndGpuLayers) {
  const auto args = build_server_arguments(modern_spec(), socket_endpoint());
  EXPECT_EQ(value_of(args, "-m"), "/models/tiny.gguf");
  EXPECT_EQ(value_of(args, "-np"), "4");
  EXPECT_EQ(value_of(args, "-c"), "8192");  // each of the 4 slots gets the 2048 asked for
  EXPECT_EQ(value_of(args, "-ngl"), "0");
  EXPECT_THAT(args, Contains("--metrics"));
  EXPECT_THAT(args, Contains("--no-webui"));
  EXPECT_THAT(args, Contains("--offline"));
}

TEST(LaunchSpecTest, ModelPathWithSpacesIsOneArgument) {
  auto spec = modern_spec();
  spec.model_path = "/models/my model; rm -rf $HOME.gguf";
  const auto args = build_server_arguments(spec, socket_endpoint());
  EXPECT_EQ(value_of(args, "-m"), "/models/my model; rm -rf $HOME.gguf");
}

TEST(LaunchSpecTest, ApiKeyNeverAppearsInArguments) {
  const auto args = build_server_arguments(modern_spec(), socket_endpoint());
  for (const auto& arg : args) EXPECT_THAT(arg, Not(HasSubstr(kKey))) << arg;
  EXPECT_THAT(args, Not(Contains("--api-key")));
}

TEST(LaunchSpecTest, UnixSocketEndpointBecomesHostPath) {
  const auto args = build_server_arguments(modern_spec(), socket_endpoint());
  EXPECT_EQ(value_of(args, "--host"), "/tmp/inference-llama-abc123/llama.sock");
  EXPECT_THAT(args, Not(Contains("--port")));
}

TEST(LaunchSpecTest, TcpEndpointListensOnLoopbackOnly) {
  const auto args = build_server_arguments(modern_spec(), ServerEndpoint::tcp(41234, std::string(kKey)));
  EXPECT_EQ(value_of(args, "--host"), "127.0.0.1");
  EXPECT_EQ(value_of(args, "--port"), "41234");
}

TEST(LaunchSpecTest, NegativeGpuLayersMeansAllLayers) {
  auto spec = modern_spec();
  spec.gpu_layers = -1;
  EXPECT_EQ(value_of(build_server_arguments(spec, socket_endpoint()), "-ngl"), std::to_string(kAllGpuLayers));
}

TEST(LaunchSpecTest, FlagsTheBuildLacksAreLeftOut) {
  auto spec = modern_spec();
  spec.features = ServerFeatures{true, false, false};
  const auto args = build_server_arguments(spec, socket_endpoint());
  EXPECT_THAT(args, Not(Contains("--no-webui")));
  EXPECT_THAT(args, Not(Contains("--offline")));
}

TEST(LaunchSpecTest, SocketEndpointOnABuildWithoutSocketsIsRejected) {
  auto spec = modern_spec();
  spec.features.unix_socket = false;
  const auto error = captured_error([&] { build_server_arguments(spec, socket_endpoint()); });
  EXPECT_TRUE(error.is(errc::invalid_argument));
}

TEST(LaunchSpecTest, SocketPathWithCommaIsRejected) {
  const auto endpoint = ServerEndpoint::unix_socket("/tmp/a,b/llama.sock", std::string(kKey));
  const auto error = captured_error([&] { build_server_arguments(modern_spec(), endpoint); });
  EXPECT_THAT(error.what(), HasSubstr("','"));
}

TEST(LaunchSpecTest, ChatTemplateAndExtraArgumentsComeLastInOrder) {
  auto spec = modern_spec();
  spec.chat_template = "chatml";
  spec.extra_args = {"--temp", "0.5", "--flash-attn", "on"};
  const auto args = build_server_arguments(spec, socket_endpoint());
  EXPECT_EQ(value_of(args, "--chat-template"), "chatml");
  ASSERT_GE(args.size(), 4U);
  EXPECT_THAT(std::vector<std::string>(args.end() - 4, args.end()), ElementsAre("--temp", "0.5", "--flash-attn", "on"));
}

TEST(LaunchSpecTest, ExtraArgumentsMayNotOverrideManagedFlags) {
  for (const std::string flag : {"--host", "--port=9", "--api-key", "-m", "-np", "-c"}) {
    auto spec = modern_spec();
    spec.extra_args = {flag, "x"};
    const auto error = captured_error([&] { build_server_arguments(spec, socket_endpoint()); });
    EXPECT_TRUE(error.is(errc::invalid_argument)) << flag;
    EXPECT_THAT(error.what(), HasSubstr(flag));
  }
}

TEST(LaunchSpecTest, InvalidSpecsAreRejected) {
  auto no_model = modern_spec();
  no_model.model_path.clear();
  EXPECT_TRUE(captured_error([&] { build_server_arguments(no_model, socket_endpoint()); }).is(errc::invalid_argument));
  auto no_slots = modern_spec();
  no_slots.slots = 0;
  EXPECT_TRUE(captured_error([&] { build_server_arguments(no_slots, socket_endpoint()); }).is(errc::invalid_argument));
  auto huge = modern_spec();
  huge.slots = 1024;
  huge.context_per_slot = 4'000'000;
  EXPECT_TRUE(captured_error([&] { build_server_arguments(huge, socket_endpoint()); }).is(errc::invalid_argument));
}

TEST(LaunchSpecTest, EnvironmentCarriesTheKeyAndDropsInheritedServerSettings) {
  auto spec = modern_spec();
  spec.environment_remove = {"SECRET"};
  spec.environment_set = {{"GGML_NTHREADS", "2"}, {"HOME", "/var/empty"}};
  const std::vector<std::string> parent{"PATH=/usr/bin",          "HOME=/root",      "SECRET=hunter2",
                                        "LLAMA_ARG_HOST=0.0.0.0", "LLAMA_API_KEY=x", "LANG=C.UTF-8"};
  const auto env = build_server_environment(spec, parent, kKey);
  EXPECT_THAT(env, ElementsAre("PATH=/usr/bin", "LANG=C.UTF-8", "GGML_NTHREADS=2", "HOME=/var/empty",
                               "LLAMA_API_KEY=" + std::string(kKey)));
}

TEST(LaunchSpecTest, SpecCannotReplaceTheApiKey) {
  auto spec = modern_spec();
  spec.environment_set = {{"LLAMA_API_KEY", "guessable"}};
  const auto env = build_server_environment(spec, {}, kKey);
  EXPECT_THAT(env, ElementsAre("LLAMA_API_KEY=" + std::string(kKey)));
}

TEST(LaunchSpecTest, MalformedVariableNamesAreRejected) {
  auto spec = modern_spec();
  spec.environment_set = {{"A=B", "c"}};
  EXPECT_TRUE(captured_error([&] { build_server_environment(spec, {}, kKey); }).is(errc::invalid_argument));
}

}  // namespace
}  // namespace inference::llama_server
