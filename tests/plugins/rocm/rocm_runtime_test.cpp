// The runtime choice with the real llama-server builds of this machine: the CPU-only build is
// refused as a HIP build (its own device probe says it has no ROCm), and the Vulkan build drives
// a fake AMD card (a fake sysfs tree) on lavapipe with runtime=vulkan, pinned through
// GGML_VK_VISIBLE_DEVICES. Skipped, saying why, when a build or the tiny model is missing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <map>

#include "fake_sysfs.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "rocm_backend.hpp"
#include "support/child_processes.hpp"
#include "support/greedy_config.hpp"
#include "support/run_async.hpp"
#include "support/test_inputs.hpp"

namespace inference::rocm {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using test::FakeSysfs;
using ::testing::HasSubstr;

constexpr std::chrono::seconds kTestBudget{240};
constexpr int32_t kTokens = 4;

llama_server::EnvLookup fake_env(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
    const auto it = variables.find(std::string(name));
    if (it == variables.end()) return std::nullopt;
    return it->second;
  };
}

fs::path vulkan_build() { return llama_server::configured_runtime_server_binary("vulkan").value_or(fs::path()); }

LoadOptions fake_machine_options(const FakeSysfs& sysfs) {
  LoadOptions options;
  options.parallel_slots = 1;
  options.context_len = 256;
  options.backend_options = {{"sysfs_root", sysfs.sysfs_root().string()},
                             {"kfd_path", sysfs.kfd_path().string()},
                             {"dri_dir", sysfs.dri_dir().string()},
                             {"ignore_eos", "1"},
                             {"server_args", "-t\n1"}};
  return options;
}

std::vector<std::string> entries_named(const std::vector<std::string>& env, const std::string& name) {
  std::vector<std::string> found;
  for (const auto& entry : env) {
    if (entry.starts_with(name + "=")) found.push_back(entry);
  }
  return found;
}

TEST(RocmRuntime, CpuOnlyBuildIsRefusedAsHavingNoRocmSupport) {
  if (const auto reason = inference::test::llama_server_skip_reason()) GTEST_SKIP() << *reason;
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  const fs::path cpu = inference::test::llama_server_for_tests();
  LoadOptions options = fake_machine_options(sysfs);
  options.backend_options["server_path"] = cpu.string();
  options.backend_options["runtime"] = "hip";
  const Availability verdict = RocmBackend(fake_env({})).available_with(options);
  EXPECT_FALSE(verdict.available);
  EXPECT_THAT(verdict.reason, HasSubstr(cpu.string() + " has no ROCm (HIP) support: its ggml loaded CPU only"));
  EXPECT_THAT(verdict.reason, HasSubstr("scripts/setup --gpu rocm"));
}

TEST(RocmRuntime, AutoFallsBackToTheVulkanBuildAndSaysWhichItChose) {
  if (const auto reason = inference::test::llama_server_skip_reason()) GTEST_SKIP() << *reason;
  if (vulkan_build().empty()) GTEST_SKIP() << "no Vulkan build installed (scripts/setup --gpu vulkan)";
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  LoadOptions options = fake_machine_options(sysfs);
  options.backend_options["allow_software_device"] = "1";
  const auto env = fake_env({{"LLAMA_SERVER_PATH", inference::test::llama_server_for_tests().string()},
                             {"VULKAN_LLAMA_SERVER_PATH", vulkan_build().string()}});
  const Availability verdict = RocmBackend(env).available_with(options);
  ASSERT_TRUE(verdict.available) << verdict.reason;
  EXPECT_THAT(verdict.reason, HasSubstr("runtime=auto chose Vulkan, as HIP is not usable ("));
  EXPECT_EQ(verdict.executable, vulkan_build().string());
  ASSERT_EQ(verdict.devices.size(), 1u);
  EXPECT_THAT(verdict.devices.front(), HasSubstr("Vulkan0: llvmpipe"));
}

// With the Vulkan build and runtime=vulkan: starts on lavapipe.
TEST(RocmRuntime, VulkanBuildWithRuntimeVulkanStartsOnLavapipePinnedByGgmlVkVisibleDevices) {
  if (const auto reason = inference::test::llama_server_skip_reason()) GTEST_SKIP() << *reason;
  if (vulkan_build().empty()) GTEST_SKIP() << "no Vulkan build installed (scripts/setup --gpu vulkan)";
  FakeSysfs sysfs;
  test::make_single_gpu_machine(sysfs);
  ::setenv("HIP_VISIBLE_DEVICES", "1,0", 1);  // inherited, must not reach the child
  RocmBackend backend(fake_env({}));
  inference::testing::run_bounded(
      [&]() -> asio::awaitable<void> {
        LoadOptions options = fake_machine_options(sysfs);
        options.backend_options["runtime"] = "vulkan";
        options.backend_options["allow_software_device"] = "1";
        options.backend_options["server_path"] = vulkan_build().string();
        std::shared_ptr<TextModel> model =
            co_await backend.load_model(inference::test::tiny_model_for_tests().string(), std::move(options));
        EXPECT_THAT(model->info().serving_device, HasSubstr("GPU 0 (gfx1100) via Vulkan (Vulkan0: llvmpipe"));
        auto server = std::dynamic_pointer_cast<llama_server::LlamaServerModel>(model);
        EXPECT_NE(server, nullptr);
        if (server) {
          const std::vector<std::string> env = inference::test::process_environment(server->server_pid());
          EXPECT_EQ(entries_named(env, "GGML_VK_VISIBLE_DEVICES"),
                    std::vector<std::string>{"GGML_VK_VISIBLE_DEVICES=0"});
          EXPECT_TRUE(entries_named(env, "HIP_VISIBLE_DEVICES").empty());
        }
        TokenStream stream = model->generate("Hello", inference::test::greedy(kTokens));
        int32_t tokens = 0;
        while (co_await stream.next()) ++tokens;
        EXPECT_EQ(tokens, kTokens);
        co_await model->close();
      },
      2, kTestBudget);
  ::unsetenv("HIP_VISIBLE_DEVICES");
}

}  // namespace
}  // namespace inference::rocm
