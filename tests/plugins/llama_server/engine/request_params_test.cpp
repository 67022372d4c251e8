// What a GenerateConfig becomes in llama-server's /completion parameters, without a server.
#include "inference/llama_server/request_params.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace inference::llama_server {
namespace {

TEST(RequestParams, AnEmptyConfigLeavesSamplingToTheServerAndPinsTheSlot) {
  const CompletionParams params = request_params(GenerateConfig(), "Hello", 2, EngineOptions());
  EXPECT_EQ(std::get<std::string>(params.prompt), "Hello");
  EXPECT_EQ(params.n_predict, kDefaultMaxTokens);
  EXPECT_FALSE(params.temperature);
  EXPECT_FALSE(params.top_k);
  EXPECT_FALSE(params.top_p);
  EXPECT_FALSE(params.min_p);
  EXPECT_FALSE(params.repeat_penalty);
  EXPECT_FALSE(params.seed);
  EXPECT_TRUE(params.stop.empty());
  EXPECT_FALSE(params.n_probs) << "logprobs 0 asks for no probabilities";
  EXPECT_EQ(params.id_slot, 2);
  EXPECT_EQ(params.cache_prompt, true);
  EXPECT_FALSE(params.ignore_eos);
}

TEST(RequestParams, EverySetFieldIsPassedOn) {
  GenerateConfig config;
  config.max_tokens = 7;
  config.temperature = 0.5F;
  config.top_k = 40;
  config.top_p = 0.9F;
  config.min_p = 0.05F;
  config.repeat_penalty = 1.1F;
  config.seed = 42;
  config.stop = {"\n\n", "END"};
  config.logprobs = 3;
  const CompletionParams params = request_params(config, "x", 0, EngineOptions());
  EXPECT_EQ(params.n_predict, 7);
  EXPECT_FLOAT_EQ(static_cast<float>(*params.temperature), 0.5F);
  EXPECT_EQ(params.top_k, 40);
  EXPECT_FLOAT_EQ(static_cast<float>(*params.top_p), 0.9F);
  EXPECT_FLOAT_EQ(static_cast<float>(*params.min_p), 0.05F);
  EXPECT_FLOAT_EQ(static_cast<float>(*params.repeat_penalty), 1.1F);
  EXPECT_EQ(params.seed, 42U);
  EXPECT_EQ(params.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_EQ(params.n_probs, 3);
}

TEST(RequestParams, ASeedIsTruncatedToTheServers32Bits) {
  GenerateConfig config;
  config.seed = (uint64_t{1} << 32) + 5;
  EXPECT_EQ(request_params(config, "x", 0, EngineOptions()).seed, 5U);
}

TEST(RequestParams, MaxTokensZeroIsSentAsZero) {
  GenerateConfig config;
  config.max_tokens = 0;
  EXPECT_EQ(request_params(config, "x", 0, EngineOptions()).n_predict, 0);
}

TEST(RequestParams, TheEnginesIgnoreEosOptionIsSent) {
  EngineOptions engine;
  engine.ignore_eos = true;
  EXPECT_EQ(request_params(GenerateConfig(), "x", 1, engine).ignore_eos, true);
}

}  // namespace
}  // namespace inference::llama_server
