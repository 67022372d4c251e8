// plain_model_launch(): the plan of a backend without devices (llama_cpp). The replicas engine
// option gives the number of replicas; on the CPU they split the machine's threads between them
// unless server_args already says how many threads to use.
#include "inference/llama_server/model_launch.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "inference/error.hpp"
#include "inference/gguf/tiny_model.hpp"
#include "inference/llama_server/engine_option_keys.hpp"
#include "inference/llama_server/memory_fit.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "support/scratch_directory.hpp"

namespace inference::llama_server {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr uint64_t kSeed = 14;

// A real GGUF file (plain_model_launch reads the model's metadata).
class ModelLaunchTest : public ::testing::Test {
 protected:
  ModelLaunchTest() { gguf::write_tiny_model(model_path(), kSeed); }

  std::string model_path() const { return (directory_ / "tiny.gguf").string(); }

  static LoadOptions with(std::map<std::string, std::string> backend_options) {
    LoadOptions options;
    options.backend_options = std::move(backend_options);
    return options;
  }

  // The arguments the replica's customizer adds to an empty launch.
  static std::vector<std::string> added_args(const ReplicaLaunch& replica) {
    LaunchSpec spec;
    if (replica.customize) replica.customize(spec);
    return spec.extra_args;
  }

  // What plain_model_launch promises each of `replicas` CPU replicas.
  static uint32_t expected_threads(uint32_t replicas) {
    const uint32_t cores = std::max(1U, std::thread::hardware_concurrency());
    return std::max(1U, cores / replicas);
  }

 private:
  inference::test::ScratchDirectory directory_{"model-launch-test"};
};

TEST_F(ModelLaunchTest, OneReplicaByDefaultWithNothingAdded) {
  const ModelLaunch launch = plain_model_launch(model_path(), with({}));
  ASSERT_EQ(launch.replicas.size(), 1U);
  EXPECT_TRUE(added_args(launch.replicas[0]).empty()) << "one server keeps llama-server's own thread count";
  EXPECT_FALSE(launch.replicas[0].device_gone) << "a CPU never goes away";
  EXPECT_EQ(launch.info.architecture, "llama");
  EXPECT_EQ(launch.info.name, gguf::TinyModelOptions().name);
}

TEST_F(ModelLaunchTest, ReplicasOptionGivesTheNumberOfReplicasAndKeepsTheOptions) {
  const LoadOptions options = with({{"replicas", "3"}, {"ignore_eos", "1"}});
  const ModelLaunch launch = plain_model_launch(model_path(), options);
  EXPECT_EQ(launch.replicas.size(), 3U);
  EXPECT_EQ(launch.options.backend_options, options.backend_options);
}

TEST_F(ModelLaunchTest, EachReplicaGetsItsShareOfTheCoresAsThreads) {
  const ModelLaunch launch = plain_model_launch(model_path(), with({{"replicas", "2"}}));
  ASSERT_EQ(launch.replicas.size(), 2U);
  const std::string threads = std::to_string(expected_threads(2));
  for (const ReplicaLaunch& replica : launch.replicas) {
    EXPECT_THAT(added_args(replica), ElementsAre("--threads", threads));
  }
}

// More replicas than cores: each still runs one thread, never zero (which llama-server would
// read as "pick for me", every replica then taking every core).
TEST_F(ModelLaunchTest, MoreReplicasThanCoresStillGivesEachOneThread) {
  const uint32_t replicas = engine_option::kMaxReplicas;
  if (std::thread::hardware_concurrency() >= replicas) GTEST_SKIP() << "this machine has as many cores as replicas";
  const ModelLaunch launch = plain_model_launch(model_path(), with({{"replicas", std::to_string(replicas)}}));
  ASSERT_EQ(launch.replicas.size(), replicas);
  for (const ReplicaLaunch& replica : launch.replicas) EXPECT_THAT(added_args(replica), ElementsAre("--threads", "1"));
}

TEST_F(ModelLaunchTest, TheCustomizerAddsAfterTheUsersArguments) {
  const ModelLaunch launch = plain_model_launch(model_path(), with({{"replicas", "2"}}));
  LaunchSpec spec;
  spec.extra_args = {"--alias", "mine"};
  launch.replicas[1].customize(spec);
  EXPECT_THAT(spec.extra_args, ElementsAre("--alias", "mine", "--threads", std::to_string(expected_threads(2))));
}

TEST_F(ModelLaunchTest, EveryReplicaIsDescribedAsTheCpuWithItsThreads) {
  const ModelLaunch launch = plain_model_launch(model_path(), with({{"replicas", "2"}}));
  const uint32_t threads = expected_threads(2);
  const std::string expected = "CPU (" + std::to_string(threads) + (threads == 1 ? " thread)" : " threads)");
  for (const ReplicaLaunch& replica : launch.replicas) EXPECT_EQ(replica.device, expected);
}

// The user's thread count wins, in each of llama-server's spellings; the replicas are still
// described as running on the CPU.
TEST_F(ModelLaunchTest, ThreadsFromServerArgsAreLeftAloneInEverySpelling) {
  for (const auto& args : {std::vector<std::string_view>{"-t", "4"}, std::vector<std::string_view>{"--threads", "4"},
                           std::vector<std::string_view>{"--alias", "x", "--threads=4"}}) {
    std::string value;
    for (const auto arg : args) value += (value.empty() ? "" : "\n") + std::string(arg);
    const ModelLaunch launch = plain_model_launch(model_path(), with({{"replicas", "2"}, {"server_args", value}}));
    ASSERT_EQ(launch.replicas.size(), 2U) << value;
    for (const ReplicaLaunch& replica : launch.replicas) {
      EXPECT_TRUE(added_args(replica).empty()) << value;
      EXPECT_THAT(replica.device, HasSubstr("CPU")) << value;
    }
  }
}

// --threads-batch is another setting: the generation threads are still split.
TEST_F(ModelLaunchTest, ThreadsBatchInServerArgsDoesNotCountAsThreads) {
  const ModelLaunch launch =
      plain_model_launch(model_path(), with({{"replicas", "2"}, {"server_args", "--threads-batch\n2"}}));
  EXPECT_THAT(added_args(launch.replicas[0]), ElementsAre("--threads", std::to_string(expected_threads(2))));
}

TEST_F(ModelLaunchTest, BadReplicasIsRefusedNamingTheKeyBeforeTheModelIsRead) {
  for (const char* value : {"0", "two", "65"}) {
    try {
      plain_model_launch("/nonexistent/model.gguf", with({{"replicas", value}}));
      ADD_FAILURE() << "replicas=" << value << " was accepted";
    } catch (const Error& error) {
      EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
      EXPECT_THAT(error.what(), HasSubstr(std::string("replicas=") + value));
    }
  }
}

TEST_F(ModelLaunchTest, MissingModelIsModelNotFound) {
  try {
    plain_model_launch("/nonexistent/model.gguf", with({{"replicas", "2"}}));
    ADD_FAILURE() << "a missing model was planned";
  } catch (const Error& error) {
    EXPECT_TRUE(error.is(errc::model_not_found)) << error.what();
  }
}

// Issue 16: the CPU build's fit against the host's memory (here capped with host_memory_mib).
TEST_F(ModelLaunchTest, ContextUnsetGetsTheTrainingContextWhenTheHostHasRoom) {
  const ModelLaunch launch = plain_model_launch(model_path(), with({{"host_memory_mib", "4096"}}));
  const uint32_t trained = gguf::TinyModelOptions::kDefaultContextLength;
  EXPECT_EQ(launch.options.context_len, trained) << "llama-server gets -c trained × slots";
  EXPECT_EQ(launch.info.serving_context_per_slot, trained);
  EXPECT_THAT(launch.info.serving_context_reason,
              HasSubstr("2048 tokens per slot (4 slots): the model's whole training context fits the host ("));
  EXPECT_THAT(launch.info.serving_context_reason, HasSubstr("MiB needed of 4096 MiB free"));
  EXPECT_EQ(launch.info.serving_device, "CPU");
}

class LongContextModelLaunchTest : public ModelLaunchTest {
 protected:
  LongContextModelLaunchTest() {
    gguf::TinyModelOptions options;
    options.context_length = kTrained;
    gguf::write_tiny_model(model_path(), kSeed, options);
  }
  static constexpr uint32_t kTrained = 1U << 20;
};

TEST_F(LongContextModelLaunchTest, ContextUnsetGetsTheLargestThatFitsTheHost) {
  const ModelLaunch launch = plain_model_launch(model_path(), with({{"host_memory_mib", "1024"}}));
  // (1024 MiB - tensors - 768 MiB headroom) / (KV bytes per token × 4 slots), in 256-token steps.
  const uint64_t per_token = kv_cache_bytes(launch.info, 1);
  ASSERT_GT(per_token, 0U);
  const uint64_t room = 1024 * kMiB - launch.info.tensor_bytes - kFitHeadroomBytes;
  const uint64_t expected = room / (per_token * kDefaultParallelSlots) / kChosenContextStep * kChosenContextStep;
  ASSERT_LT(expected, kTrained);
  EXPECT_EQ(launch.options.context_len, expected);
  EXPECT_EQ(launch.info.serving_context_per_slot, expected);
  EXPECT_THAT(launch.info.serving_context_reason,
              HasSubstr(std::to_string(expected) + " tokens per slot (4 slots): the most that fits the host"));
}

TEST_F(LongContextModelLaunchTest, ReplicasCountEverySlotOfEveryReplica) {
  const ModelLaunch one = plain_model_launch(model_path(), with({{"host_memory_mib", "1024"}}));
  const ModelLaunch two = plain_model_launch(model_path(), with({{"host_memory_mib", "1024"}, {"replicas", "2"}}));
  EXPECT_LT(two.options.context_len, one.options.context_len);
  EXPECT_TRUE(
      estimate_fit(two.info, uint64_t{two.options.context_len} * kDefaultParallelSlots * 2, -1, 1024 * kMiB).fits());
}

TEST_F(LongContextModelLaunchTest, ExplicitContextBeyondTheHostIsRefusedWithTheNumbers) {
  LoadOptions options = with({{"host_memory_mib", "1024"}});
  options.context_len = kTrained;
  try {
    plain_model_launch(model_path(), options);
    ADD_FAILURE() << "a context larger than the host's memory was planned";
  } catch (const Error& error) {
    EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("tiny.gguf needs "));
    EXPECT_THAT(error.what(),
                HasSubstr("for " + std::to_string(uint64_t{kTrained} * kDefaultParallelSlots) + " tokens"));
    EXPECT_THAT(error.what(), HasSubstr("but the host has 1024 MiB free"));
    EXPECT_THAT(error.what(), HasSubstr("context_len"));
  }
}

TEST_F(LongContextModelLaunchTest, ExplicitContextThatFitsIsKeptAndReportedAsAsked) {
  LoadOptions options = with({{"host_memory_mib", "1024"}});
  options.context_len = 4096;
  const ModelLaunch launch = plain_model_launch(model_path(), options);
  EXPECT_EQ(launch.options.context_len, 4096U);
  EXPECT_EQ(launch.info.serving_context_per_slot, 4096U);
  EXPECT_EQ(launch.info.serving_context_reason, "asked (context_len=4096)");
}

TEST_F(ModelLaunchTest, BadHostMemoryMibIsRefusedNamingTheKey) {
  try {
    plain_model_launch(model_path(), with({{"host_memory_mib", "lots"}}));
    ADD_FAILURE() << "host_memory_mib=lots was accepted";
  } catch (const Error& error) {
    EXPECT_TRUE(error.is(errc::invalid_argument)) << error.what();
    EXPECT_THAT(error.what(), HasSubstr("host_memory_mib=lots"));
  }
}

TEST(ReportServing, AskedContextIsReportedAsAsked) {
  ModelLaunch launch;
  launch.options.context_len = 512;
  launch.replicas.resize(1);
  report_serving(launch);
  EXPECT_EQ(launch.info.serving_context_per_slot, 512U);
  EXPECT_EQ(launch.info.serving_context_reason, "asked (context_len=512)");
}

TEST(ReportServing, UnsetContextIsTheTrainingContextSplitOverTheSlots) {
  ModelLaunch launch;
  launch.info.context_length = 8192;
  launch.options.parallel_slots = 4;
  launch.replicas.resize(2);
  launch.replicas[0].device = "GPU 0 (gfx1100)";
  launch.replicas[1].device = "GPU 1 (gfx1100)";
  report_serving(launch);
  EXPECT_EQ(launch.info.serving_context_per_slot, 2048U);
  EXPECT_EQ(launch.info.serving_context_reason,
            "2048 tokens per slot: the model's training context (8192) split over 4 slots (context_len unset, no fit "
            "check)");
  EXPECT_EQ(launch.info.serving_device, "GPU 0 (gfx1100), GPU 1 (gfx1100)");
}

TEST(ReportServing, WhatThePlanSaidIsKept) {
  ModelLaunch launch;
  launch.options.context_len = 3072;
  launch.info.serving_context_per_slot = 3072;
  launch.info.serving_context_reason = "3072 tokens per slot (1 slot): the most that fits GPU 0 (gfx1100) (...)";
  launch.info.serving_device = "GPU 0 (gfx1100)";
  launch.replicas.resize(1);
  launch.replicas[0].device = "something else";
  report_serving(launch);
  EXPECT_EQ(launch.info.serving_context_reason,
            "3072 tokens per slot (1 slot): the most that fits GPU 0 (gfx1100) (...)");
  EXPECT_EQ(launch.info.serving_device, "GPU 0 (gfx1100)");
}

TEST_F(ModelLaunchTest, RpcRunsOneReplicaWithEveryWorkerOnItsCommandLineAndNamesThemAsTheDevice) {
  const ModelLaunch launch =
      plain_model_launch(model_path(), with({{"rpc", "127.0.0.1:50101,[::1]:50102"}, {"server_path", "/opt/ls-rpc"}}));
  ASSERT_EQ(launch.replicas.size(), 1U);
  EXPECT_THAT(added_args(launch.replicas[0]), ElementsAre("--rpc", "127.0.0.1:50101,[::1]:50102"));
  LaunchSpec spec;
  launch.replicas[0].customize(spec);
  EXPECT_THAT(spec.environment_set, ElementsAre(std::pair<std::string, std::string>("GGML_NO_BACKTRACE", "1")));
  EXPECT_TRUE(launch.replicas[0].remote_gone) << "the workers are checked before every start";
  EXPECT_EQ(launch.info.serving_device, "RPC: 127.0.0.1:50101, [::1]:50102 (+ local CPU)");
  EXPECT_EQ(launch.options.backend_options.at("server_path"), "/opt/ls-rpc") << "an explicit server_path is kept";
  EXPECT_EQ(launch.info.serving_context_per_slot, 0U) << "no host-memory fit: the weights live on the workers";
}

TEST_F(ModelLaunchTest, RpcWithoutServerPathRunsTheConfiguredRpcBuild) {
  const std::optional<std::filesystem::path> rpc_build = configured_runtime_server_binary("rpc");
  if (!rpc_build) GTEST_SKIP() << "no llama-server-rpc installed (scripts/install-llama-server-gpu rpc)";
  const ModelLaunch launch = plain_model_launch(model_path(), with({{"rpc", "127.0.0.1:50101"}}));
  EXPECT_EQ(launch.options.backend_options.at("server_path"), rpc_build->string());
}

TEST_F(ModelLaunchTest, RpcWithEveryLayerKeptLocalIsRefused) {
  LoadOptions options = with({{"rpc", "127.0.0.1:50101"}});
  options.gpu_layers = 0;
  try {
    plain_model_launch(model_path(), options);
    ADD_FAILURE() << "gpu_layers=0 with rpc was accepted";
  } catch (const Error& error) {
    EXPECT_TRUE(error.is(errc::invalid_argument));
    EXPECT_THAT(error.what(), HasSubstr("rpc with gpu_layers=0"));
  }
}

}  // namespace
}  // namespace inference::llama_server
