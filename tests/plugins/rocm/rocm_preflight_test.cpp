// RocmBackend::preflight(): "would this model load on the GPU?" from the GGUF metadata and the
// fake machine's VRAM, without starting anything; and `llmctl models DIR --backend rocm`, which
// shows that verdict per model.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include "fake_servers.hpp"
#include "fake_sysfs.hpp"
#include "inference/gguf/tiny_model.hpp"
#include "rocm_backend.hpp"

namespace inference::rocm {
namespace {

using test::FakeSysfs;
using test::kMiB;

llama_server::EnvLookup fake_env(std::map<std::string, std::string> variables) {
  return [variables = std::move(variables)](std::string_view name) -> std::optional<std::string> {
    const auto it = variables.find(std::string(name));
    if (it == variables.end()) return std::nullopt;
    return it->second;
  };
}

struct Machine {
  FakeSysfs sysfs;
  std::filesystem::path server;
  std::filesystem::path model;

  explicit Machine(std::uint64_t vram_total) {
    sysfs.add_cpu_node(0);
    test::FakeGpu gpu = test::rx7800xt(128);
    gpu.vram_total = vram_total;
    gpu.vram_used = 0;
    sysfs.add_gpu_node(1, gpu);
    sysfs.create_kfd();
    server = test::write_hip_stand_in(sysfs);
    model = sysfs.root() / "models" / "tiny.gguf";
    std::filesystem::create_directories(model.parent_path());
    gguf::write_tiny_model(model, 1);
  }

  std::map<std::string, std::string> env() const {
    return {{"INFERENCE_ROCM_SYSFS_ROOT", sysfs.sysfs_root().string()},
            {"INFERENCE_ROCM_KFD_PATH", sysfs.kfd_path().string()},
            {"INFERENCE_ROCM_DRI_DIR", sysfs.dri_dir().string()},
            {"ROCM_LLAMA_SERVER_PATH", server.string()}};
  }
};

TEST(RocmPreflight, ModelThatFitsIsAcceptedWithTheNumbers) {
  Machine machine(16 * 1024 * kMiB);
  const Availability verdict = RocmBackend(fake_env(machine.env())).preflight(machine.model.string(), LoadOptions{});
  EXPECT_TRUE(verdict.available) << verdict.reason;
  EXPECT_NE(verdict.reason.find("MiB free"), std::string::npos) << verdict.reason;
}

TEST(RocmPreflight, ModelLargerThanTheFreeVramIsRefusedWithTheNumbers) {
  Machine machine(64 * 1024);  // 64 KiB of "VRAM"
  const Availability verdict = RocmBackend(fake_env(machine.env())).preflight(machine.model.string(), LoadOptions{});
  EXPECT_FALSE(verdict.available);
  EXPECT_NE(verdict.reason.find("MiB"), std::string::npos) << verdict.reason;
}

TEST(RocmPreflight, UnreadableModelIsRefusedNamingTheFile) {
  Machine machine(16 * 1024 * kMiB);
  const Availability verdict =
      RocmBackend(fake_env(machine.env())).preflight((machine.sysfs.root() / "missing.gguf").string(), LoadOptions{});
  EXPECT_FALSE(verdict.available);
  EXPECT_NE(verdict.reason.find("missing.gguf"), std::string::npos) << verdict.reason;
}

std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return out;
  char buffer[4096];
  while (std::fgets(buffer, sizeof buffer, pipe)) out += buffer;
  ::pclose(pipe);
  return out;
}

TEST(RocmPreflight, LlmctlModelsWithBackendRocmShowsWhichModelsFit) {
  Machine machine(64 * 1024);
  std::string command;
  for (const auto& [name, value] : machine.env()) command += name + "='" + value + "' ";
  command += std::string("'") + ROCM_TEST_LLMCTL + "' models '" + (machine.sysfs.root() / "models").string() +
             "' --backend rocm --plugin-dir '" + ROCM_TEST_PLUGIN_DIR + "' --json 2>&1";
  const std::string out = run(command);
  EXPECT_NE(out.find(R"("preflight":{"backend":"rocm","loads":false)"), std::string::npos) << out;
  EXPECT_NE(out.find("MiB"), std::string::npos) << out;
}

}  // namespace
}  // namespace inference::rocm
