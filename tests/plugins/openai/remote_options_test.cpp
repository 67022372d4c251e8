// The openai backend's options: base_url forms, the key's sources and their refusals, defaults.
#include "inference/openai/remote_options.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <fstream>

#include "inference/error.hpp"
#include "support/scratch_directory.hpp"

namespace inference::openai {
namespace {

LoadOptions with(std::map<std::string, std::string> backend_options) {
  LoadOptions options;
  options.backend_options = std::move(backend_options);
  return options;
}

// The message of the invalid_argument parse_remote_options() throws (empty when it does not).
std::string refusal(const std::string& model, const LoadOptions& options) {
  try {
    parse_remote_options(model, options);
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    return e.what();
  }
  return {};
}

TEST(RemoteUrl, TheSdkFormWithV1AndTheServerRootBothReachV1) {
  const RemoteUrl sdk = parse_remote_url("https://api.example.com/v1");
  EXPECT_TRUE(sdk.tls);
  EXPECT_EQ(sdk.host, "api.example.com");
  EXPECT_EQ(sdk.port, 443);
  EXPECT_EQ(sdk.endpoint("/completions"), "/v1/completions");
  EXPECT_EQ(sdk.host_header(), "api.example.com");

  const RemoteUrl root = parse_remote_url("http://10.0.0.5:8080/");
  EXPECT_FALSE(root.tls);
  EXPECT_EQ(root.port, 8080);
  EXPECT_EQ(root.endpoint("/chat/completions"), "/v1/chat/completions");
  EXPECT_EQ(root.host_header(), "10.0.0.5:8080");
  EXPECT_EQ(root.origin(), "http://10.0.0.5:8080");

  const RemoteUrl v6 = parse_remote_url("http://[::1]:9000/proxy/v1");
  EXPECT_EQ(v6.host, "::1");
  EXPECT_EQ(v6.origin(), "http://[::1]:9000");
  EXPECT_EQ(v6.endpoint("/completions"), "/proxy/v1/completions");
}

TEST(RemoteUrl, LlamaServersNativeEndpointsAreBesideTheApiRoot) {
  EXPECT_EQ(parse_remote_url("http://127.0.0.1:8080/v1").native_endpoint("/completion"), "/completion");
  EXPECT_EQ(parse_remote_url("http://127.0.0.1:8080").native_endpoint("/completion"), "/completion");
  EXPECT_EQ(parse_remote_url("https://gpu.example/proxy/v1").native_endpoint("/completion"), "/proxy/completion");
  EXPECT_EQ(parse_remote_url("https://gpu.example/llama").native_endpoint("/completion"), "/llama/completion");
}

TEST(RemoteOptions, ProtocolIsOpenAiUnlessLlamaServerIsAskedForAndNothingElseIsAccepted) {
  EXPECT_EQ(parse_remote_options("tiny", with({{"base_url", "http://127.0.0.1:1/v1"}})).protocol,
            RemoteProtocol::openai);
  EXPECT_EQ(parse_remote_options("tiny", with({{"base_url", "http://127.0.0.1:1/v1"}, {"protocol", "llama-server"}}))
                .protocol,
            RemoteProtocol::llama_server);
  try {
    parse_remote_options("tiny", with({{"base_url", "http://127.0.0.1:1/v1"}, {"protocol", "vllm"}}));
    ADD_FAILURE() << "protocol=vllm was accepted";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    EXPECT_NE(std::string(e.what()).find("protocol"), std::string::npos) << e.what();
  }
}

TEST(RemoteUrl, RefusesOtherSchemesUserInfoBadPortsAndQueries) {
  for (const char* bad : {"ftp://x/v1", "localhost:8080", "http://", "http://user:secret@host/v1", "http://host:0",
                          "http://host:99999", "http://host:80x", "http://host/v1?x=1", "http://[::1/v1"}) {
    try {
      parse_remote_url(bad);
      ADD_FAILURE() << bad << " was accepted";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
      EXPECT_NE(std::string(e.what()).find("base_url"), std::string::npos) << e.what();
      EXPECT_EQ(std::string(e.what()).find("secret"), std::string::npos) << "a credential leaked into " << e.what();
    }
  }
}

TEST(RemoteOptions, DefaultsComeFromTheLoadOptionsAndTheModelArgument) {
  const RemoteOptions options = parse_remote_options("tiny", with({{"base_url", "http://127.0.0.1:1/v1"}}));
  EXPECT_EQ(options.model, "tiny");
  EXPECT_EQ(options.max_in_flight, kDefaultParallelSlots);
  EXPECT_EQ(options.max_in_flight, 4U);
  EXPECT_EQ(options.queue_limit, kDefaultQueueLimit);
  EXPECT_EQ(options.read_timeout, kDefaultReadTimeout);
  EXPECT_TRUE(options.api_key.empty());

  const RemoteOptions named = parse_remote_options(
      "ignored", with({{"base_url", "http://h/v1"}, {"model", "gpt-x"}, {"max_in_flight", "16"}, {"retries", "0"}}));
  EXPECT_EQ(named.model, "gpt-x");
  EXPECT_EQ(named.max_in_flight, 16U);
  EXPECT_EQ(named.retries, 0U);
}

TEST(RemoteOptions, MissingBaseUrlMissingModelUnknownKeysAndBadNumbersAreRefusedByName) {
  EXPECT_NE(refusal("m", with({})).find("base_url"), std::string::npos);
  EXPECT_NE(refusal("", with({{"base_url", "http://h"}})).find("model"), std::string::npos);
  EXPECT_NE(refusal("m", with({{"base_url", "http://h"}, {"api_key", "x"}})).find("api_key: unknown"),
            std::string::npos);
  EXPECT_NE(refusal("m", with({{"base_url", "http://h"}, {"max_in_flight", "0"}})).find("max_in_flight=0"),
            std::string::npos);
  EXPECT_NE(refusal("m", with({{"base_url", "http://h"}, {"read_timeout_ms", "soon"}})).find("read_timeout_ms"),
            std::string::npos);
}

TEST(RemoteOptions, TheKeyComesFromTheNamedVariableAndNeverAppearsInMessages) {
  ::setenv("OPENAI_TEST_KEY", "sk-test-secret\n", 1);
  const RemoteOptions options =
      parse_remote_options("m", with({{"base_url", "http://h"}, {"api_key_env", "OPENAI_TEST_KEY"}}));
  EXPECT_EQ(options.api_key, "sk-test-secret");
  EXPECT_EQ(options.api_key_source, "api_key_env=OPENAI_TEST_KEY");
  ::unsetenv("OPENAI_TEST_KEY");
  const std::string message = refusal("m", with({{"base_url", "http://h"}, {"api_key_env", "OPENAI_TEST_KEY"}}));
  EXPECT_NE(message.find("OPENAI_TEST_KEY"), std::string::npos) << message;
  EXPECT_NE(message.find("not set"), std::string::npos) << message;
}

TEST(RemoteOptions, AKeyFileIsReadButOneEveryUserCanReadIsRefused) {
  const test::ScratchDirectory directory("openai-key");
  const std::string path = (directory / "key").string();
  std::ofstream(path) << "sk-file-secret\n";
  ::chmod(path.c_str(), 0600);
  const RemoteOptions options = parse_remote_options("m", with({{"base_url", "http://h"}, {"api_key_file", path}}));
  EXPECT_EQ(options.api_key, "sk-file-secret");

  ::chmod(path.c_str(), 0644);
  const std::string message = refusal("m", with({{"base_url", "http://h"}, {"api_key_file", path}}));
  EXPECT_NE(message.find("readable by every user"), std::string::npos) << message;
  EXPECT_EQ(message.find("sk-file-secret"), std::string::npos) << message;

  EXPECT_NE(
      refusal("m", with({{"base_url", "http://h"}, {"api_key_file", path}, {"api_key_env", "HOME"}})).find("not both"),
      std::string::npos);
  EXPECT_NE(refusal("m", with({{"base_url", "http://h"}, {"api_key_file", (directory / "none").string()}}))
                .find("api_key_file"),
            std::string::npos);
}

}  // namespace
}  // namespace inference::openai
