// llmctl with the vulkan backend on lavapipe: `llmctl backends` names the Vulkan build, its
// device with memory and why the backend is not available by default (a software renderer);
// with software devices allowed, `llmctl demo` picks the vulkan backend as the best available
// one and says which device it runs on. Skipped, saying why, without the Vulkan build.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <filesystem>
#include <string>

#include "llmctl_process.hpp"
#include "support/test_inputs.hpp"

namespace {

using llmctl_test::plugin_dir;
using llmctl_test::run_llmctl;
using llmctl_test::RunResult;

namespace fs = std::filesystem;

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

class LlmctlVulkanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // What scripts/setup --gpu vulkan installs next to the configured llama-server.
    vulkan_ = (fs::path(inference::test::llama_server_for_tests()).parent_path() / "llama-server-vulkan").string();
    if (::access(vulkan_.c_str(), X_OK) != 0) {
      GTEST_SKIP() << "no Vulkan llama-server at '" << vulkan_ << "' (run scripts/setup --gpu vulkan)";
    }
    if (!fs::exists(inference::test::tiny_model_for_tests())) GTEST_SKIP() << "test model missing";
    ::setenv("VULKAN_LLAMA_SERVER_PATH", vulkan_.c_str(), 1);
    ::unsetenv("INFERENCE_VULKAN_ALLOW_SOFTWARE");
  }
  void TearDown() override {
    ::unsetenv("VULKAN_LLAMA_SERVER_PATH");
    ::unsetenv("INFERENCE_VULKAN_ALLOW_SOFTWARE");
  }

  std::string vulkan_;
};

TEST_F(LlmctlVulkanTest, BackendsShowsTheVulkanBuildItsDeviceWithMemoryAndWhyItIsNotAvailable) {
  const auto r = run_llmctl({"backends", "--plugin-dir", plugin_dir().string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const boost::json::value report = boost::json::parse(r.out);
  bool listed = false;
  for (const auto& item : report.at("backends").as_array()) {
    const auto& backend = item.as_object();
    if (backend.at("name").as_string() != "vulkan") continue;
    listed = true;
    EXPECT_FALSE(backend.at("available").as_bool()) << describe(r);
    EXPECT_NE(std::string(backend.at("reason").as_string())
                  .find("software renderer on the CPU: set backend option "
                        "allow_software_device=1"),
              std::string::npos)
        << describe(r);
    EXPECT_EQ(backend.at("server_path").as_string(), vulkan_) << describe(r);
    ASSERT_EQ(backend.at("devices").as_array().size(), 1U) << describe(r);
    EXPECT_EQ(std::string(backend.at("devices").as_array()[0].as_string()).rfind("Vulkan0: llvmpipe (", 0), 0U)
        << describe(r);
  }
  EXPECT_TRUE(listed) << describe(r);

  const auto table = run_llmctl({"backends", "--plugin-dir", plugin_dir().string()});
  ASSERT_EQ(table.exit_code, 0) << describe(table);
  EXPECT_NE(table.out.find("vulkan device: Vulkan0: llvmpipe ("), std::string::npos) << describe(table);
  EXPECT_NE(table.out.find(" MiB free), software"), std::string::npos) << describe(table);
}

TEST_F(LlmctlVulkanTest, DemoRunsOnTheBestAvailableBackendAndNamesItsDevice) {
  ::setenv("INFERENCE_VULKAN_ALLOW_SOFTWARE", "1", 1);
  const auto r =
      run_llmctl({"demo", "--plugin-dir", plugin_dir().string(), "--model",
                  inference::test::tiny_model_for_tests().string(), "--streams", "2", "--max-tokens", "3", "Hello"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out.rfind("loaded ", 0), 0U) << describe(r);
  EXPECT_NE(r.out.find(" with backend vulkan on Vulkan0: llvmpipe ("), std::string::npos) << describe(r);
}

}  // namespace
