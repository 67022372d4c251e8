#include "launch_plan.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <map>

#include "fake_sysfs.hpp"
#include "inference/error.hpp"

namespace inference::rocm {
namespace {

using test::FakeSysfs;
using test::kMiB;

ModelInfo big_model() {
  ModelInfo model;
  model.path = "/models/too-big.gguf";
  model.block_count = 32;
  model.embedding_length = 4096;
  model.head_count = 32;
  model.head_count_kv = 8;
  model.tensor_bytes = 30000 * kMiB;
  return model;
}

// A fake environment: the variables given, nothing else (no PATH, so no accidental binary).
llama_server::EnvLookup fake_env(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
    const auto it = variables.find(std::string(name));
    if (it == variables.end()) return std::nullopt;
    return it->second;
  };
}

std::filesystem::path make_executable(FakeSysfs& tree, const std::string& relative) {
  tree.write(relative, "#!/bin/sh\n");
  const auto path = tree.root() / relative;
  std::filesystem::permissions(path, std::filesystem::perms::owner_all);
  return path;
}

LoadOptions options_for(const FakeSysfs& sysfs) {
  LoadOptions options;
  options.parallel_slots = 4;
  options.context_len = 2048;
  options.backend_options = {{"sysfs_root", sysfs.sysfs_root().string()}, {"kfd_path", sysfs.kfd_path().string()}};
  return options;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(LaunchPlan, ModelLargerThanFreeVramIsRefusedWithTheNumbers) {
  FakeSysfs sysfs;
  test::make_9950x_with_7800xt(sysfs);
  const std::string error = error_of([&] { plan_launch(big_model(), options_for(sysfs), fake_env({})); });
  EXPECT_NE(error.find("/models/too-big.gguf needs 31792 MiB"), std::string::npos) << error;
  EXPECT_NE(error.find("weights 30000 MiB + KV cache 1024 MiB for 8192 tokens"), std::string::npos) << error;
  EXPECT_NE(error.find("16073 MiB free"), std::string::npos) << error;
  EXPECT_NE(error.find("auto_offload=1"), std::string::npos) << error;
}

TEST(LaunchPlan, AutoOffloadChoosesTheLayersThatFit) {
  FakeSysfs sysfs;
  test::make_9950x_with_7800xt(sysfs);
  LoadOptions options = options_for(sysfs);
  options.backend_options["auto_offload"] = "1";
  const LaunchPlan plan = plan_launch(big_model(), options, fake_env({}));
  EXPECT_GT(plan.gpu_layers, 0);
  EXPECT_LT(plan.gpu_layers, 32);
  EXPECT_TRUE(plan.fit.fits());
  EXPECT_EQ(plan.gpu.index, 0);
}

TEST(LaunchPlan, CpuOnlySkipsTheFitCheckButStillPinsTheGpu) {
  FakeSysfs sysfs;
  test::make_9950x_with_7800xt(sysfs);
  const auto binary = make_executable(sysfs, "bin/llama-server");
  LoadOptions options = options_for(sysfs);
  options.gpu_layers = 0;
  const LaunchPlan plan = plan_launch(big_model(), options, fake_env({{"LLAMA_SERVER_PATH", binary.string()}}));
  EXPECT_EQ(plan.gpu_layers, 0);
  llama_server::LaunchSpec spec;
  apply_plan(plan, spec);
  EXPECT_EQ(spec.environment_set, (std::vector<std::pair<std::string, std::string>>{{"HIP_VISIBLE_DEVICES", "0"}}));
}

TEST(LaunchPlan, NoKfdDeviceIsTheReason) {
  FakeSysfs sysfs;
  sysfs.add_cpu_node(0);
  sysfs.add_gpu_node(1, test::rx7800xt(128));
  const std::string error = error_of([&] { plan_launch(big_model(), options_for(sysfs), fake_env({})); });
  EXPECT_NE(error.find("no " + sysfs.kfd_path().string()), std::string::npos) << error;
}

TEST(LaunchPlan, RocmServerPathComesBeforeTheEngineSearch) {
  FakeSysfs tree;
  const auto rocm = make_executable(tree, "rocm/llama-server");
  const auto generic = make_executable(tree, "generic/llama-server");
  const auto env = fake_env({{"ROCM_LLAMA_SERVER_PATH", rocm.string()}, {"LLAMA_SERVER_PATH", generic.string()}});
  EXPECT_EQ(find_rocm_server_binary(std::nullopt, env), rocm);
  EXPECT_EQ(find_rocm_server_binary(generic, env), generic);  // an explicit path wins
  EXPECT_EQ(find_rocm_server_binary(std::nullopt, fake_env({{"LLAMA_SERVER_PATH", generic.string()}})), generic);
  const std::string missing = error_of([&] {
    find_rocm_server_binary(std::nullopt, fake_env({{"ROCM_LLAMA_SERVER_PATH", "/nonexistent/ls"}}));
  });
  EXPECT_NE(missing.find("ROCM_LLAMA_SERVER_PATH"), std::string::npos) << missing;
  EXPECT_NE(missing.find("/nonexistent/ls"), std::string::npos) << missing;
}

// The build's configured default is the CPU-only llama-server scripts/setup installs: the rocm
// backend must not pick it up when nothing names a ROCm build (it would compute on the CPU).
TEST(LaunchPlan, TheBuildsConfiguredCpuServerIsNeverTheRocmServer) {
  const auto configured = llama_server::configured_server_binary();
  if (!configured || ::access(configured->c_str(), X_OK) != 0) {
    GTEST_SKIP() << "the build's configured llama-server is not installed (run scripts/setup)";
  }
  const std::string error = error_of([&] { find_rocm_server_binary(std::nullopt, fake_env({})); });
  EXPECT_NE(error.find("no usable llama-server"), std::string::npos) << error;
  EXPECT_EQ(error.find(configured->string()), std::string::npos) << error;
}

TEST(LaunchPlan, OptionsAreValidated) {
  const auto env = fake_env({});
  EXPECT_THROW(parse_rocm_options({{"auto_offload", "yes"}}, env), Error);
  EXPECT_THROW(parse_rocm_options({{"hsa_override_gfx_version", "gfx1100"}}, env), Error);
  EXPECT_THROW(parse_rocm_options({{"sysfs_root", ""}}, env), Error);
  const RocmOptions parsed = parse_rocm_options({{"hsa_override_gfx_version", "11.0.0"}, {"auto_offload", "1"}}, env);
  EXPECT_EQ(parsed.hsa_override, "11.0.0");
  EXPECT_TRUE(parsed.auto_offload);
  EXPECT_EQ(parsed.paths.sysfs_root, "/sys");
}

}  // namespace
}  // namespace inference::rocm
