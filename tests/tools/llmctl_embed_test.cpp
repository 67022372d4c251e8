// llmctl embed, run as a process: against the stub backend (unit) and, when the real
// llama-server is there, against the tiny model (the backend option embeddings=true set by the
// command itself).
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <string>
#include <vector>

#include "llmctl_process.hpp"
#include "support/test_inputs.hpp"

namespace {

using llmctl_test::plugin_dir;
using llmctl_test::run_llmctl;
using llmctl_test::RunResult;

constexpr std::size_t kStubDimension = 16;

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

std::vector<std::string> with_plugins(std::vector<std::string> args) {
  args.insert(args.begin() + 1, {"--plugin-dir", plugin_dir().string()});
  return args;
}

TEST(LlmctlEmbed, JsonHasTheDimensionAndOneVectorPerTextInOrder) {
  const auto r = run_llmctl(with_plugins({"embed", "--backend", "stub", "--json", "stub", "one", "two", "one"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 1U) << describe(r);
  const boost::json::value out = boost::json::parse(lines[0]);
  EXPECT_EQ(out.at("dimension").to_number<std::size_t>(), kStubDimension);
  const auto& data = out.at("data").as_array();
  ASSERT_EQ(data.size(), 3U);
  for (std::size_t i = 0; i < data.size(); ++i) {
    EXPECT_EQ(data[i].at("index").to_number<std::size_t>(), i);
    EXPECT_EQ(data[i].at("embedding").as_array().size(), kStubDimension);
  }
  EXPECT_EQ(data[0].at("embedding"), data[2].at("embedding"));
  EXPECT_NE(data[0].at("embedding"), data[1].at("embedding"));
}

TEST(LlmctlEmbed, TextModePrintsTheDimensionThenOneLinePerText) {
  const auto r = run_llmctl(with_plugins({"embed", "--backend", "stub", "stub", "a b", "c"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 3U) << describe(r);
  EXPECT_EQ(lines[0], "dimension 16");
  EXPECT_EQ(lines[1].rfind("0 (2 tokens): ", 0), 0U) << lines[1];
  EXPECT_EQ(lines[2].rfind("1 (1 tokens): ", 0), 0U) << lines[2];
}

TEST(LlmctlEmbed, AnEmptyTextFailsNamingIt) {
  const auto r = run_llmctl(with_plugins({"embed", "--backend", "stub", "stub", "a", ""}));
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("input 1"), std::string::npos) << describe(r);
}

TEST(LlmctlEmbed, TheTinyModelThroughLlamaServerGivesVectorsOfItsDimension) {
  if (auto reason = inference::test::llama_server_skip_reason()) GTEST_SKIP() << *reason;
  const auto r =
      run_llmctl(with_plugins({"embed", "--backend", "llama_cpp", "--json", "--pooling", "mean", "--opt",
                               "server_path=" + inference::test::llama_server_for_tests().string(), "--ctx", "256",
                               "--slots", "2", inference::test::tiny_model_for_tests().string(), "hello", "hello"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const boost::json::value out = boost::json::parse(r.out_lines().at(0));
  EXPECT_EQ(out.at("dimension").to_number<std::size_t>(), 8U);  // llama.embedding_length of the tiny model
  EXPECT_EQ(out.at("data").at(0).at("embedding").as_array().size(), 8U);
  EXPECT_EQ(out.at("data").at(0).at("embedding"), out.at("data").at(1).at("embedding"));
}

}  // namespace
