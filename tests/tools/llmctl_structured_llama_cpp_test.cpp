// llmctl's --json-schema, --grammar and `llmctl tokenize` against the real llama-server (the
// llama_cpp backend and the tiny test model).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "llmctl_process.hpp"
#include "support/test_inputs.hpp"

namespace {

using llmctl_test::plugin_dir;
using llmctl_test::run_llmctl;
using llmctl_test::RunResult;

namespace fs = std::filesystem;

constexpr int kExitFailure = 1;

class LlmctlStructuredLlamaCppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string server = inference::test::llama_server_for_tests().string();
    model_ = inference::test::tiny_model_for_tests().string();
    if (server.empty() || ::access(server.c_str(), X_OK) != 0) GTEST_SKIP() << "no executable llama-server";
    if (!fs::exists(model_)) GTEST_SKIP() << "test model " << model_ << " missing (set INFERENCE_MODELS_DIR)";
    ::setenv("LLAMA_SERVER_PATH", server.c_str(), 1);
    dir_ = fs::temp_directory_path() / ("llmctl_structured_llama_cpp_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  std::vector<std::string> command(std::vector<std::string> args) const {
    args.insert(args.begin() + 1, {"--plugin-dir", plugin_dir().string(), "--backend", "llama_cpp", "--model", model_});
    return args;
  }

  std::string file(const std::string& name, const std::string& contents) const {
    const fs::path path = dir_ / name;
    std::ofstream(path) << contents;
    return path.string();
  }

  std::string model_;
  fs::path dir_;
};

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

TEST_F(LlmctlStructuredLlamaCppTest, GenerateWithAJsonSchemaPrintsJsonMatchingIt) {
  const std::string schema =
      file("schema.json", R"({"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"],)"
                          R"("additionalProperties":false})");
  const auto r =
      run_llmctl(command({"generate", "--json-schema", schema, "--max-tokens", "200", "--temperature", "0", "Reply:"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_FALSE(r.out.empty());
  const std::string text = r.out.substr(0, r.out.size() - 1);  // llmctl ends the text with a newline
  boost::system::error_code ec;
  const boost::json::value value = boost::json::parse(text, ec);
  ASSERT_FALSE(ec) << describe(r);
  ASSERT_TRUE(value.is_object()) << describe(r);
  EXPECT_EQ(value.as_object().size(), 1U) << describe(r);
  EXPECT_TRUE(value.as_object().contains("ok") && value.at("ok").is_bool()) << describe(r);
}

TEST_F(LlmctlStructuredLlamaCppTest, ABadGrammarExitsOneWithInvalidArgumentAndTheServersMessage) {
  const std::string grammar = file("bad.gbnf", "root ::= (\"yes\" | ");
  const auto r = run_llmctl(command({"chat", "--grammar", grammar, "Hello"}));
  EXPECT_EQ(r.exit_code, kExitFailure) << describe(r);
  EXPECT_NE(r.err.find("failed to parse grammar"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("(invalid_argument)"), std::string::npos) << describe(r);
}

TEST_F(LlmctlStructuredLlamaCppTest, TokenizePrintsTheModelsIdsAndDetokenizeGivesTheTextBack) {
  const auto r = run_llmctl(command({"tokenize", "--add-special", "Hello world"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "1\t\"<s>\"\n15043\t\" Hello\"\n3186\t\" world\"\n") << describe(r);
  const auto back = run_llmctl(command({"tokenize", "--detokenize", "15043,3186"}));
  ASSERT_EQ(back.exit_code, 0) << describe(back);
  EXPECT_EQ(back.out, " Hello world\n") << describe(back);
}

}  // namespace
