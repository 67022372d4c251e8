// llmctl against the real llama-server (the llama_cpp backend and the tiny test model): the
// server's log reaches stderr with --server-log, bench measures readiness against it and reports
// per-replica figures with --replicas, and the llama-server the build was configured with
// (scripts/setup's) is found without any environment.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "llmctl_process.hpp"
#include "support/test_inputs.hpp"

namespace {

using llmctl_test::plugin_dir;
using llmctl_test::run_llmctl;
using llmctl_test::RunResult;

namespace fs = std::filesystem;

using inference::test::environment_or_empty;

std::string tiny_model() { return inference::test::tiny_model_for_tests().string(); }

class LlmctlLlamaCppTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string server = inference::test::llama_server_for_tests().string();
    model_ = tiny_model();
    if (server.empty() || ::access(server.c_str(), X_OK) != 0) {
      GTEST_SKIP() << "no executable llama-server (LLAMA_SERVER_PATH / INFERENCE_TEST_LLAMA_SERVER = '" << server
                   << "')";
    }
    if (!fs::exists(model_)) GTEST_SKIP() << "test model " << model_ << " missing (set INFERENCE_MODELS_DIR)";
    // llmctl finds the server the way a user's shell would tell it.
    ::setenv("LLAMA_SERVER_PATH", server.c_str(), 1);
  }

  std::vector<std::string> command(std::vector<std::string> args) const {
    args.insert(args.begin() + 1, {"--plugin-dir", plugin_dir().string(), "--backend", "llama_cpp", "--model", model_});
    return args;
  }

  std::string model_;
};

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

TEST_F(LlmctlLlamaCppTest, ServerLogFlagPrintsTheServersOwnLinesOnStderr) {
  const auto r = run_llmctl(command({"generate", "--server-log", "--max-tokens", "4", "--json", "Hello"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.err.find("server: "), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("listening on"), std::string::npos) << describe(r);
  // stdout stays machine-readable: no log line leaks into it.
  EXPECT_EQ(r.out.find("server: "), std::string::npos) << describe(r);
}

TEST_F(LlmctlLlamaCppTest, WithoutTheFlagNoServerLogIsPrinted) {
  const auto r = run_llmctl(command({"generate", "--max-tokens", "4", "--json", "Hello"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_EQ(r.err.find("server: "), std::string::npos) << describe(r);
}

TEST_F(LlmctlLlamaCppTest, BenchReportsWhenTheServerStartedListeningWithinTheLoad) {
  const auto r = run_llmctl(command({"bench", "--json", "--requests", "4", "--max-tokens", "4"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto report = boost::json::parse(r.out).as_object();
  ASSERT_TRUE(report.at("server_listening_ms").is_number()) << describe(r);
  const double listening = report.at("server_listening_ms").to_number<double>();
  const double load = report.at("load_ms").to_number<double>();
  // Ordering, not timing: the server says it listens before the load can have seen it ready.
  EXPECT_GT(listening, 0.0);
  EXPECT_LE(listening, load);
  std::printf("[ MEASURE  ] load %.1f ms, server listening at %.1f ms, ready %.1f ms after\n", load, listening,
              load - listening);
}

// --replicas 2: two servers behind one model; the JSON report accounts for every request on the
// replica that ran it, and no replica ever had more requests in flight than its slots.
TEST_F(LlmctlLlamaCppTest, BenchWithTwoReplicasReportsEachReplicasFigures) {
  constexpr uint64_t kRequests = 8;
  constexpr uint64_t kSlots = 2;
  const auto r = run_llmctl(command({"bench", "--json", "--replicas", "2", "--slots", std::to_string(kSlots),
                                     "--requests", std::to_string(kRequests), "--concurrency", "4", "--max-tokens", "4",
                                     "--shared-prefix-words", "40", "--ctx", "512"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto report = boost::json::parse(r.out).as_object();
  ASSERT_EQ(report.at("completed").to_number<uint64_t>(), kRequests) << describe(r);
  EXPECT_EQ(report.at("slots_total").to_number<uint64_t>(), 2 * kSlots);
  const auto& replicas = report.at("replicas").as_array();
  ASSERT_EQ(replicas.size(), 2U) << describe(r);
  uint64_t requests = 0;
  uint64_t completed = 0;
  uint64_t cached = 0;
  for (const auto& item : replicas) {
    const auto& replica = item.as_object();
    EXPECT_EQ(replica.at("state").as_string(), "serving") << describe(r);
    EXPECT_EQ(replica.at("slots").to_number<uint64_t>(), kSlots);
    EXPECT_LE(replica.at("max_in_flight").to_number<uint64_t>(), kSlots);
    EXPECT_EQ(replica.at("restarts").to_number<uint64_t>(), 0U);
    // What the model counted on the replica is what the streams say ran there.
    EXPECT_EQ(replica.at("requests").to_number<uint64_t>(), replica.at("completed").to_number<uint64_t>());
    // Four at a time over two replicas of two slots: neither can have taken them all.
    EXPECT_GE(replica.at("completed").to_number<uint64_t>(), 1U) << describe(r);
    requests += replica.at("requests").to_number<uint64_t>();
    completed += replica.at("completed").to_number<uint64_t>();
    cached += replica.at("cached_prompt_tokens").to_number<uint64_t>();
  }
  EXPECT_EQ(requests, kRequests);
  EXPECT_EQ(completed, kRequests);
  EXPECT_EQ(cached, report.at("cached_prompt_tokens").to_number<uint64_t>());
}

TEST_F(LlmctlLlamaCppTest, GenerateWithTwoReplicasSaysWhichReplicaAndSlotServedIt) {
  const auto r =
      run_llmctl(command({"generate", "--replicas", "2", "--slots", "2", "--max-tokens", "2", "--json", "Hi"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_FALSE(r.out_lines().empty()) << describe(r);
  const auto result = boost::json::parse(r.out_lines().back()).at("result").as_object();
  const auto replica = result.at("replica").to_number<int>();
  const auto slot = result.at("slot").to_number<int>();
  EXPECT_TRUE(replica == 0 || replica == 1) << describe(r);
  EXPECT_TRUE(slot == 0 || slot == 1) << describe(r);
}

// Issue 16: llmctl says which context the model serves and why: chosen to fit the host when
// --ctx is not given, asked otherwise; in text on stderr (stdout is the generated text), in --json
// on the result line.
TEST_F(LlmctlLlamaCppTest, GenerateSaysWhichContextWasChosenAndWhy) {
  const auto text = run_llmctl(command({"generate", "--max-tokens", "2", "Hello"}));
  ASSERT_EQ(text.exit_code, 0) << describe(text);
  EXPECT_NE(text.err.find("tokens per slot (4 slots): the model's whole training context fits the host ("),
            std::string::npos)
      << describe(text);
  EXPECT_NE(text.err.find("; on CPU"), std::string::npos) << describe(text);
  EXPECT_EQ(text.out.find("tokens per slot"), std::string::npos) << describe(text);

  const auto json = run_llmctl(command({"generate", "--ctx", "256", "--max-tokens", "2", "--json", "Hello"}));
  ASSERT_EQ(json.exit_code, 0) << describe(json);
  ASSERT_FALSE(json.out_lines().empty()) << describe(json);
  const auto serving = boost::json::parse(json.out_lines().back()).at("serving").as_object();
  EXPECT_EQ(serving.at("context_per_slot").to_number<uint64_t>(), 256U) << describe(json);
  EXPECT_EQ(serving.at("context_reason").as_string(), "asked (context_len=256)") << describe(json);
  EXPECT_EQ(serving.at("device").as_string(), "CPU") << describe(json);
}

// --rpc reaches the llama_cpp backend, which checks its workers before it starts anything: port 1
// on loopback has no ggml-rpc-server. (llama_cpp_rpc_test runs real workers.)
TEST_F(LlmctlLlamaCppTest, GenerateWithRpcNamingAWorkerThatDoesNotAnswerFailsNamingIt) {
  const fs::path rpc_build = fs::path(inference::test::llama_server_for_tests()).parent_path() / "llama-server-rpc";
  if (::access(rpc_build.c_str(), X_OK) != 0) GTEST_SKIP() << "no " << rpc_build << " (install-llama-server-gpu rpc)";
  const auto r = run_llmctl(command({"generate", "--rpc", "127.0.0.1:1", "--max-tokens", "4", "Hello"}));
  EXPECT_EQ(r.exit_code, 1) << describe(r);
  EXPECT_NE(r.err.find("RPC worker 127.0.0.1:1 does not answer"), std::string::npos) << describe(r);
  EXPECT_NE(r.err.find("backend_unavailable"), std::string::npos) << describe(r);
}

TEST_F(LlmctlLlamaCppTest, BenchAndModelsSayWhichContextWouldBeServed) {
  const auto bench = run_llmctl(command({"bench", "--json", "--requests", "2", "--max-tokens", "2"}));
  ASSERT_EQ(bench.exit_code, 0) << describe(bench);
  const auto report = boost::json::parse(bench.out).as_object();
  EXPECT_GT(report.at("context_per_slot").to_number<uint64_t>(), 0U) << describe(bench);
  EXPECT_NE(std::string(report.at("context_reason").as_string()).find("fits the host"), std::string::npos)
      << describe(bench);
  EXPECT_EQ(report.at("device").as_string(), "CPU") << describe(bench);

  const auto models = run_llmctl({"models", fs::path(model_).parent_path().string(), "--plugin-dir",
                                  plugin_dir().string(), "--backend", "llama_cpp"});
  ASSERT_EQ(models.exit_code, 0) << describe(models);
  EXPECT_NE(models.out.find(model_ + ": yes: CPU: context "), std::string::npos) << describe(models);
}

// No LLAMA_SERVER_PATH: llmctl must find the llama-server the build was configured with (the one
// scripts/setup installed), as a user's shell right after setup would run it.
class LlmctlDefaultServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    configured_ = environment_or_empty("INFERENCE_TEST_LLAMA_SERVER");
    if (configured_.empty()) configured_ = INFERENCE_TEST_CONFIGURED_LLAMA_SERVER;
    model_ = tiny_model();
    if (::access(configured_.c_str(), X_OK) != 0) {
      GTEST_SKIP() << "the configured llama-server '" << configured_ << "' is not installed (run scripts/setup)";
    }
    if (!fs::exists(model_)) GTEST_SKIP() << "test model " << model_ << " missing (set INFERENCE_MODELS_DIR)";
    ::unsetenv("LLAMA_SERVER_PATH");
  }

  std::string configured_;
  std::string model_;
};

TEST_F(LlmctlDefaultServerTest, BackendsNamesTheConfiguredLlamaServerWithoutLlamaServerPath) {
  const auto r = run_llmctl({"backends", "--plugin-dir", plugin_dir().string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const boost::json::value report = boost::json::parse(r.out);
  bool listed = false;
  for (const auto& backend : report.at("backends").as_array()) {
    if (backend.at("name").as_string() != "llama_cpp") continue;
    listed = true;
    EXPECT_TRUE(backend.at("available").as_bool()) << describe(r);
    EXPECT_EQ(backend.at("server_path").as_string(), configured_) << describe(r);
  }
  EXPECT_TRUE(listed) << describe(r);

  const auto table = run_llmctl({"backends", "--plugin-dir", plugin_dir().string()});
  ASSERT_EQ(table.exit_code, 0) << describe(table);
  EXPECT_NE(table.out.find(configured_), std::string::npos) << describe(table);
}

TEST_F(LlmctlDefaultServerTest, GenerateRunsTheConfiguredLlamaServerWithoutLlamaServerPath) {
  const auto r = run_llmctl({"generate", "--plugin-dir", plugin_dir().string(), "--backend", "llama_cpp", "--model",
                             model_, "--max-tokens", "4", "--json", "Hello"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find(R"("finish_reason":"length","prompt_tokens")"), std::string::npos) << describe(r);
}

}  // namespace
