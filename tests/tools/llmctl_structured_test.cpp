// llmctl's constrained-output flags (--json-schema, --grammar) and `llmctl tokenize`, checked by
// running the built binary against the stub backend (its word list: "the" is id 100, "model" 102).
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "llmctl_process.hpp"

namespace {

using llmctl_test::plugin_dir;
using llmctl_test::run_llmctl;
using llmctl_test::RunResult;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// args with --plugin-dir <build/plugins> and --backend stub inserted after the subcommand.
std::vector<std::string> on_stub(std::vector<std::string> args) {
  args.insert(args.begin() + 1, {"--plugin-dir", plugin_dir().string(), "--backend", "stub"});
  return args;
}

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// A file in a directory of its own, removed with it.
class TempFile {
 public:
  explicit TempFile(const std::string& contents) {
    dir_ = std::filesystem::temp_directory_path() / ("llmctl_structured_test_" + std::to_string(::getpid()) + "_" +
                                                     ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    std::ofstream(path()) << contents;
  }
  ~TempFile() { std::filesystem::remove_all(dir_); }
  std::string path() const { return (dir_ / "input").string(); }
  std::string dir() const { return dir_.string(); }

 private:
  std::filesystem::path dir_;
};

TEST(LlmctlTokenize, PrintsOneLinePerTokenWithIdAndQuotedPiece) {
  const auto r = run_llmctl(on_stub({"tokenize", "the", "model", "zebra"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "100\t\" the\"\n102\t\" model\"\n0\t\" <unk>\"\n") << describe(r);
}

TEST(LlmctlTokenize, JsonWithAddSpecialStartsWithTheBos) {
  const auto r = run_llmctl(on_stub({"tokenize", "--add-special", "--json", "the model"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_EQ(r.out_lines().size(), 1U) << describe(r);
  EXPECT_EQ(
      boost::json::parse(r.out_lines().front()),
      boost::json::parse(R"({"tokens":[{"id":1,"piece":""},{"id":100,"piece":" the"},{"id":102,"piece":" model"}]})"));
}

TEST(LlmctlTokenize, DetokenizeTakesIdsAsArgumentsOrCommaSeparated) {
  const auto r = run_llmctl(on_stub({"tokenize", "--detokenize", "1", "100,102"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.out, "the model\n");
  const auto json = run_llmctl(on_stub({"tokenize", "--detokenize", "--json", "100"}));
  ASSERT_EQ(json.exit_code, 0) << describe(json);
  EXPECT_EQ(boost::json::parse(json.out_lines().front()), boost::json::parse(R"({"text":"the"})"));
}

TEST(LlmctlTokenize, AMalformedIdIsAUsageErrorNamingIt) {
  const auto r = run_llmctl(on_stub({"tokenize", "--detokenize", "1,x2"}));
  EXPECT_EQ(r.exit_code, kExitUsage) << describe(r);
  EXPECT_NE(r.err.find("'x2'"), std::string::npos) << describe(r);
}

TEST(LlmctlTokenize, AnIdOutsideTheVocabularyFailsNamingIt) {
  const auto r = run_llmctl(on_stub({"tokenize", "--detokenize", "100", "99999"}));
  EXPECT_EQ(r.exit_code, kExitFailure) << describe(r);
  EXPECT_NE(r.err.find("99999"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("invalid_argument"), std::string::npos) << describe(r);
}

TEST(LlmctlConstraintFlags, AnUnreadableFileIsAUsageErrorNamingIt) {
  for (const std::string command : {"generate", "chat", "bench"}) {
    for (const std::string flag : {"--json-schema", "--grammar"}) {
      const auto r = run_llmctl(on_stub({command, flag, "/nonexistent/schema.json", "hello"}));
      EXPECT_EQ(r.exit_code, kExitUsage) << command << ' ' << flag << '\n' << describe(r);
      EXPECT_NE(r.err.find("/nonexistent/schema.json"), std::string::npos) << describe(r);
      EXPECT_NE(r.err.find(flag), std::string::npos) << describe(r);
    }
  }
}

TEST(LlmctlConstraintFlags, ADirectoryOrAnEmptyFileIsAUsageErrorToo) {
  const TempFile empty("");
  const auto directory = run_llmctl(on_stub({"generate", "--json-schema", empty.dir(), "hello"}));
  EXPECT_EQ(directory.exit_code, kExitUsage) << describe(directory);
  EXPECT_NE(directory.err.find("directory"), std::string::npos) << describe(directory);
  const auto nothing = run_llmctl(on_stub({"generate", "--grammar", empty.path(), "hello"}));
  EXPECT_EQ(nothing.exit_code, kExitUsage) << describe(nothing);
  EXPECT_NE(nothing.err.find("empty"), std::string::npos) << describe(nothing);
}

TEST(LlmctlConstraintFlags, SchemaAndGrammarTogetherAreAUsageError) {
  const TempFile schema(R"({"type":"object"})");
  const auto r = run_llmctl(on_stub({"generate", "--json-schema", schema.path(), "--grammar", schema.path(), "hi"}));
  EXPECT_EQ(r.exit_code, kExitUsage) << describe(r);
  EXPECT_NE(r.err.find("--json-schema excludes --grammar"), std::string::npos) << describe(r);
}

// The file reaches the backend: the stub has no sampler to constrain and says so.
TEST(LlmctlConstraintFlags, TheFileReachesTheBackendWhichMayRefuseIt) {
  const TempFile grammar(R"(root ::= "yes")");
  const auto r = run_llmctl(on_stub({"chat", "--grammar", grammar.path(), "hello"}));
  EXPECT_EQ(r.exit_code, kExitFailure) << describe(r);
  EXPECT_NE(r.err.find("(unsupported)"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("grammar"), std::string::npos) << describe(r);
}

}  // namespace
