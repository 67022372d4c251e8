// llmctl's command-line contract, checked by running the built binary against the stub backend.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "llmctl_process.hpp"

namespace {

using llmctl_test::LlmctlProcess;
using llmctl_test::plugin_dir;
using llmctl_test::run_llmctl;
using llmctl_test::RunResult;

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInterrupted = 130;
// How long a streaming llmctl gets to print its first token before the signal tests give up.
constexpr std::chrono::seconds kFirstOutputTimeout{20};
// A cancelled stub command unwinds at once; llmctl's own grace period (5 s) must not be what
// ends it.
constexpr std::chrono::seconds kPromptExit{3};
// Gives the bench workers time to get requests into the model before the signal.
constexpr std::chrono::milliseconds kLetRequestsStart{200};

// args with --plugin-dir <build/plugins> inserted after the subcommand.
std::vector<std::string> with_plugins(std::vector<std::string> args) {
  args.insert(args.begin() + 1, {"--plugin-dir", plugin_dir().string()});
  return args;
}

boost::json::object parse_object(const std::string& line) {
  boost::json::value value = boost::json::parse(line);
  EXPECT_TRUE(value.is_object()) << line;
  return value.is_object() ? value.as_object() : boost::json::object{};
}

std::string describe(const RunResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

class TempDir {
 public:
  TempDir() {
    path_ = std::filesystem::temp_directory_path() / ("llmctl_test_" + std::to_string(::getpid()) + "_" +
                                                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(LlmctlBackends, JsonListsStubAsAvailableWithItsPluginFile) {
  const auto r = run_llmctl(with_plugins({"backends", "--json"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_EQ(r.out_lines().size(), 1U) << describe(r);
  const auto out = parse_object(r.out_lines().front());
  bool found = false;
  for (const auto& item : out.at("backends").as_array()) {
    const auto& backend = item.as_object();
    if (backend.at("name").as_string() != "stub") continue;
    found = true;
    EXPECT_TRUE(backend.at("available").as_bool());
    EXPECT_EQ(std::filesystem::path(std::string(backend.at("plugin_file").as_string())).filename(),
              "libbackend_stub.so");
    EXPECT_TRUE(backend.at("devices").as_array().empty()) << "the stub runs on no device";
  }
  EXPECT_TRUE(found) << describe(r);
  EXPECT_TRUE(out.at("failures").is_array());
}

TEST(LlmctlBackends, FindsPluginsNextToTheExecutableWithoutFlags) {
  const auto r = run_llmctl({"backends"});
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("stub"), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find("libbackend_stub.so"), std::string::npos) << describe(r);
}

TEST(LlmctlGenerate, JsonPrintsOneLinePerTokenThenTheResult) {
  const auto r = run_llmctl(
      with_plugins({"generate", "--backend", "stub", "--json", "--max-tokens", "5", "--seed", "1", "hello"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 6U) << describe(r);
  for (std::size_t i = 0; i < 5; ++i) {
    const auto token = parse_object(lines[i]);
    EXPECT_TRUE(token.at("id").is_int64()) << lines[i];
    EXPECT_TRUE(token.at("text").is_string()) << lines[i];
  }
  const auto result = parse_object(lines.back()).at("result").as_object();
  EXPECT_EQ(result.at("finish_reason").as_string(), "length");
  EXPECT_EQ(result.at("generated_tokens").to_number<uint64_t>(), 5U);
  for (const char* field : {"prompt_tokens", "cached_prompt_tokens", "queue_ms", "ttft_ms", "total_ms", "prefill_tok_s",
                            "decode_tok_s", "replica", "slot"}) {
    EXPECT_TRUE(result.contains(field)) << field;
  }
  // The stub has no replicas.
  EXPECT_EQ(result.at("replica").to_number<int>(), -1);
  EXPECT_TRUE(r.err.empty()) << describe(r);
}

TEST(LlmctlGenerate, SameSeedGivesTheSameTokens) {
  const std::vector<std::string> args =
      with_plugins({"generate", "--backend", "stub", "--json", "--max-tokens", "5", "--seed", "1", "hello"});
  auto first = run_llmctl(args).out_lines();
  auto second = run_llmctl(args).out_lines();
  ASSERT_EQ(first.size(), 6U);
  ASSERT_EQ(second.size(), 6U);
  first.pop_back();  // the result line carries timings
  second.pop_back();
  EXPECT_EQ(first, second);
}

TEST(LlmctlGenerate, TextModePrintsTheTokensTextThenANewline) {
  const auto json =
      run_llmctl(with_plugins({"generate", "--backend", "stub", "--json", "--max-tokens", "7", "hi there"}));
  const auto text = run_llmctl(with_plugins({"generate", "--backend", "stub", "--max-tokens", "7", "hi", "there"}));
  ASSERT_EQ(json.exit_code, 0) << describe(json);
  ASSERT_EQ(text.exit_code, 0) << describe(text);
  std::string expected;
  auto lines = json.out_lines();
  lines.pop_back();
  for (const auto& line : lines) expected += std::string(parse_object(line).at("text").as_string());
  EXPECT_EQ(text.out, expected + "\n");
}

TEST(LlmctlChat, StreamsTheReplyToASystemAndUserMessage) {
  const auto r = run_llmctl(
      with_plugins({"chat", "--backend", "stub", "--system", "be brief", "--json", "--max-tokens", "3", "hello"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 4U) << describe(r);
  const auto result = parse_object(lines.back()).at("result").as_object();
  EXPECT_EQ(result.at("finish_reason").as_string(), "length");
  EXPECT_GT(result.at("prompt_tokens").to_number<uint64_t>(), 1U);  // system + user + cue
}

TEST(LlmctlBench, JsonCountsEveryRequestAndTokenWithinTheSlots) {
  const auto r = run_llmctl(with_plugins({"bench", "--backend", "stub", "--json", "--requests", "32", "--concurrency",
                                          "8", "--slots", "4", "--max-tokens", "16"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  ASSERT_EQ(r.out_lines().size(), 1U) << describe(r);
  const auto report = parse_object(r.out_lines().front());
  EXPECT_EQ(report.at("backend").as_string(), "stub");
  EXPECT_EQ(report.at("requests").to_number<uint64_t>(), 32U);
  EXPECT_EQ(report.at("completed").to_number<uint64_t>(), 32U);
  EXPECT_EQ(report.at("errors").to_number<uint64_t>(), 0U);
  EXPECT_EQ(report.at("tokens").to_number<uint64_t>(), 512U);
  EXPECT_EQ(report.at("slots").to_number<uint64_t>(), 4U);
  EXPECT_LE(report.at("max_in_flight").to_number<uint64_t>(), 4U);
  EXPECT_GE(report.at("max_in_flight").to_number<uint64_t>(), 1U);
  for (const char* field : {"wall_s", "agg_tok_s", "ttft_ms_p50", "ttft_ms_p99", "queue_ms_p50", "load_ms",
                            "host_cpu_s", "host_cpu_us_per_token"}) {
    EXPECT_TRUE(report.contains(field)) << field;
  }
  // The stub has no server, so no "listening" moment to compare the load with.
  EXPECT_TRUE(report.at("server_listening_ms").is_null());
}

TEST(LlmctlBench, JsonHasThePlacementFiguresAndAnEmptyReplicaListForTheStub) {
  const auto r = run_llmctl(with_plugins({"bench", "--backend", "stub", "--json", "--requests", "8", "--max-tokens",
                                          "2", "--shared-prefix-words", "30", "--prompt-words", "4"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto report = parse_object(r.out_lines().front());
  EXPECT_EQ(report.at("shared_prefix_words").to_number<uint64_t>(), 30U);
  // The stub counts a prompt's words as its tokens: 34 per request.
  EXPECT_EQ(report.at("prompt_tokens").to_number<uint64_t>(), 8U * 34U);
  for (const char* field :
       {"cached_prompt_tokens", "prefix_hits", "affinity_hits", "restarts", "slots_total", "host_cpu_us_per_request"}) {
    EXPECT_TRUE(report.at(field).is_number()) << field;
  }
  ASSERT_TRUE(report.at("replicas").is_array());
  EXPECT_TRUE(report.at("replicas").as_array().empty());
}

TEST(LlmctlBench, CountsFailedRequestsByErrorCode) {
  const auto r = run_llmctl(with_plugins({"bench", "--backend", "stub", "--json", "--requests", "6", "--max-tokens",
                                          "4", "--opt", "fail_after_tokens=2", "--opt", "fail_code=child_exited"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto report = parse_object(r.out_lines().front());
  EXPECT_EQ(report.at("completed").to_number<uint64_t>(), 0U);
  EXPECT_EQ(report.at("errors").to_number<uint64_t>(), 6U);
  EXPECT_EQ(report.at("errors_by_code").as_object().at("child_exited").to_number<uint64_t>(), 6U);
}

TEST(LlmctlBench, TextModePrintsATableAndNoProgressWhenStderrIsNotATerminal) {
  const auto r = run_llmctl(with_plugins({"bench", "--backend", "stub", "--requests", "4", "--max-tokens", "4"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("completed"), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find("ttft p50 / p99"), std::string::npos) << describe(r);
  EXPECT_NE(r.out.find("none reported by backend 'stub'"), std::string::npos) << describe(r);
  EXPECT_TRUE(r.err.empty()) << describe(r);
}

TEST(LlmctlDemo, PrintsTheBackendThenEachStreamWithWhereItRanThenTheModelsStats) {
  const auto r =
      run_llmctl(with_plugins({"demo", "--backend", "stub", "--streams", "3", "--max-tokens", "4", "Once", "Twice"}));
  ASSERT_EQ(r.exit_code, 0) << describe(r);
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 6U) << describe(r);  // loaded, 3 streams, done, replicas
  EXPECT_NE(lines[0].find(" with backend stub on a device it does not name in "), std::string::npos) << lines[0];
  for (std::size_t i = 1; i <= 3; ++i) EXPECT_NE(lines[i].find("4 tokens on "), std::string::npos) << lines[i];
  EXPECT_EQ(lines[4].rfind("done: 12 tokens served", 0), 0U) << describe(r);
  EXPECT_EQ(lines[5].rfind("replicas: none reported by backend 'stub'", 0), 0U) << describe(r);
}

TEST(LlmctlErrors, UnknownBackendExitsOneWithOneLineNamingIt) {
  const auto r = run_llmctl(with_plugins({"generate", "--backend", "no_such_backend", "hello"}));
  EXPECT_EQ(r.exit_code, kExitFailure) << describe(r);
  ASSERT_EQ(r.err_lines().size(), 1U) << describe(r);
  EXPECT_EQ(r.err.rfind("llmctl: ", 0), 0U) << describe(r);
  EXPECT_NE(r.err.find("no_such_backend"), std::string::npos) << describe(r);
}

TEST(LlmctlErrors, StreamFailureExitsOneWithOneLineNamingTheCode) {
  const auto r = run_llmctl(with_plugins({"generate", "--backend", "stub", "--json", "--max-tokens", "5", "--opt",
                                          "fail_after_tokens=2", "--opt", "fail_code=child_exited", "hello"}));
  EXPECT_EQ(r.exit_code, kExitFailure) << describe(r);
  ASSERT_EQ(r.err_lines().size(), 1U) << describe(r);
  EXPECT_NE(r.err.find("child_exited"), std::string::npos) << describe(r);
  // The two tokens produced before the failure, then a result line saying why it ended.
  const auto lines = r.out_lines();
  ASSERT_EQ(lines.size(), 3U) << describe(r);
  const auto result = parse_object(lines.back()).at("result").as_object();
  EXPECT_EQ(result.at("finish_reason").as_string(), "error");
  EXPECT_EQ(result.at("error").as_string(), "child_exited");
}

TEST(LlmctlErrors, AnErrorsDetailIsPrintedOnlyWithVerboseBelowItsOneLine) {
  std::vector<std::string> args{"generate", "--backend", "stub", "--opt", "fail_load=child_start_failed"};
  args.insert(args.end(), {"--opt", "fail_detail=server said A\nserver said B", "hello"});
  const auto quiet = run_llmctl(with_plugins(args));
  EXPECT_EQ(quiet.exit_code, kExitFailure) << describe(quiet);
  ASSERT_EQ(quiet.err_lines().size(), 1U) << describe(quiet);
  EXPECT_NE(quiet.err.find("(child_start_failed)"), std::string::npos) << describe(quiet);
  EXPECT_EQ(quiet.err.find("server said"), std::string::npos) << describe(quiet);

  std::vector<std::string> verbose_args = args;
  verbose_args.insert(verbose_args.begin() + 1, "--verbose");
  const auto verbose = run_llmctl(with_plugins(verbose_args));
  EXPECT_EQ(verbose.exit_code, kExitFailure) << describe(verbose);
  const auto lines = verbose.err_lines();
  ASSERT_EQ(lines.size(), 3U) << describe(verbose);
  EXPECT_EQ(lines[0], quiet.err_lines()[0]);
  EXPECT_EQ(lines[1], "  server said A");
  EXPECT_EQ(lines[2], "  server said B");
}

TEST(LlmctlErrors, JsonResultCarriesTheErrorsDetail) {
  const auto r = run_llmctl(with_plugins({"generate", "--backend", "stub", "--json", "--max-tokens", "5", "--opt",
                                          "fail_after_tokens=1", "--opt", "fail_detail=line 1\nline 2", "hello"}));
  EXPECT_EQ(r.exit_code, kExitFailure) << describe(r);
  const auto result = parse_object(r.out_lines().back()).at("result").as_object();
  EXPECT_EQ(result.at("error_detail").as_string(), "line 1\nline 2");
  EXPECT_EQ(std::string(result.at("error_message").as_string()).find('\n'), std::string::npos);
}

TEST(LlmctlErrors, BackendRejectingAnOptionExitsOne) {
  const auto r = run_llmctl(with_plugins({"generate", "--backend", "stub", "--opt", "no_such_knob=1", "hello"}));
  EXPECT_EQ(r.exit_code, kExitFailure) << describe(r);
  ASSERT_EQ(r.err_lines().size(), 1U) << describe(r);
  EXPECT_NE(r.err.find("no_such_knob"), std::string::npos) << describe(r);
}

TEST(LlmctlErrors, MalformedOptIsAUsageError) {
  const auto r = run_llmctl(with_plugins({"generate", "--backend", "stub", "--opt", "novalue", "hello"}));
  EXPECT_EQ(r.exit_code, kExitUsage) << describe(r);
  EXPECT_EQ(r.err_lines().size(), 1U) << describe(r);
}

TEST(LlmctlErrors, UnknownFlagMissingArgumentAndMissingCommandAreUsageErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"generate", "--no-such-flag", "hello"}, {"generate"}, {}, {"bench", "--requests", "0"}}) {
    const auto r = run_llmctl(args);
    EXPECT_EQ(r.exit_code, kExitUsage) << describe(r);
    EXPECT_EQ(r.err_lines().size(), 1U) << describe(r);
  }
}

TEST(LlmctlPlacementFlags, ReplicasAndDevicesReachTheBackendAsItsOptions) {
  // The stub has neither option, so it refuses each by name: proof that the flag became the
  // backend option (the llama_cpp test checks that replicas take effect).
  const auto replicas = run_llmctl(with_plugins({"generate", "--backend", "stub", "--replicas", "2", "hello"}));
  EXPECT_EQ(replicas.exit_code, kExitFailure) << describe(replicas);
  EXPECT_NE(replicas.err.find("stub backend option replicas"), std::string::npos) << describe(replicas);
  const auto devices = run_llmctl(with_plugins({"bench", "--backend", "stub", "--devices", "0,1", "--requests", "1"}));
  EXPECT_EQ(devices.exit_code, kExitFailure) << describe(devices);
  EXPECT_NE(devices.err.find("stub backend option devices"), std::string::npos) << describe(devices);
}

TEST(LlmctlPlacementFlags, AFlagAndAnOptSettingTheSameOptionIsAUsageErrorNamingBoth) {
  const std::vector<std::vector<std::string>> cases{
      {"--replicas", "2", "--opt", "replicas=3"},
      {"--opt", "replicas=3", "--replicas", "2"},
      {"--devices", "0,1", "--opt", "devices=1"},
      {"--opt", "devices=1", "--devices", "0,1"},
  };
  for (const auto& flags : cases) {
    std::vector<std::string> args{"generate", "--backend", "stub"};
    args.insert(args.end(), flags.begin(), flags.end());
    args.push_back("hello");
    const auto r = run_llmctl(with_plugins(args));
    EXPECT_EQ(r.exit_code, kExitUsage) << describe(r);
    ASSERT_EQ(r.err_lines().size(), 1U) << describe(r);
    const bool replicas = flags[0] == "--replicas" || flags[2] == "--replicas";
    EXPECT_NE(r.err.find(replicas ? "--replicas 2" : "--devices 0,1"), std::string::npos) << describe(r);
    EXPECT_NE(r.err.find(replicas ? "--opt replicas=3" : "--opt devices=1"), std::string::npos) << describe(r);
  }
}

TEST(LlmctlPlacementFlags, MalformedValuesAreUsageErrorsNamingTheFlag) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"--replicas", "0"}, {"--replicas", "two"}, {"--devices", "0,,1"}, {"--devices", "gpu0"}, {"--devices", ""}};
  for (const auto& [flag, value] : cases) {
    const auto r = run_llmctl(with_plugins({"generate", "--backend", "stub", flag, value, "hello"}));
    EXPECT_EQ(r.exit_code, kExitUsage) << describe(r);
    ASSERT_EQ(r.err_lines().size(), 1U) << describe(r);
    EXPECT_NE(r.err.find(flag), std::string::npos) << describe(r);
  }
}

TEST(LlmctlRpcFlag, RpcReachesTheBackendAsItsRpcOptionAndConflictsWithOptRpc) {
  // The stub has no rpc option, so it refuses it by name: the flag became the backend option
  // (llmctl_llama_cpp_test checks that the llama_cpp backend acts on it).
  for (const char* command : {"generate", "chat", "bench"}) {
    std::vector<std::string> args{command, "--backend", "stub", "--rpc", "127.0.0.1:50052"};
    if (std::string(command) == "bench")
      args.insert(args.end(), {"--requests", "1"});
    else
      args.push_back("hello");
    const auto r = run_llmctl(with_plugins(args));
    EXPECT_EQ(r.exit_code, kExitFailure) << command << "\n" << describe(r);
    EXPECT_NE(r.err.find("stub backend option rpc"), std::string::npos) << command << "\n" << describe(r);
  }
  const auto both =
      run_llmctl(with_plugins({"generate", "--backend", "stub", "--rpc", "h:1", "--opt", "rpc=h:2", "hello"}));
  EXPECT_EQ(both.exit_code, kExitUsage) << describe(both);
  EXPECT_NE(both.err.find("--rpc h:1 conflicts with --opt rpc=h:2"), std::string::npos) << describe(both);
  const auto empty = run_llmctl(with_plugins({"generate", "--backend", "stub", "--rpc", "", "hello"}));
  EXPECT_EQ(empty.exit_code, kExitUsage) << describe(empty);
  EXPECT_NE(empty.err.find("--rpc"), std::string::npos) << describe(empty);
}

TEST(LlmctlPlacementFlags, EveryCommandThatLoadsAModelTakesThem) {
  for (const char* command : {"generate", "chat", "bench", "demo", "models", "serve"}) {
    const auto r = run_llmctl({command, "--help"});
    EXPECT_EQ(r.exit_code, 0) << command << "\n" << describe(r);
    EXPECT_NE(r.out.find("--replicas"), std::string::npos) << command;
    EXPECT_NE(r.out.find("--devices"), std::string::npos) << command;
  }
}

TEST(LlmctlErrors, HelpExitsZero) {
  const auto r = run_llmctl({"--help"});
  EXPECT_EQ(r.exit_code, 0) << describe(r);
  EXPECT_NE(r.out.find("generate"), std::string::npos) << describe(r);
}

TEST(LlmctlSignals, CtrlCDuringGenerateCancelsAndExits130) {
  LlmctlProcess process(with_plugins(
      {"generate", "--backend", "stub", "--json", "--max-tokens", "100000", "--opt", "token_delay_us=20000", "hello"}));
  ASSERT_TRUE(process.wait_for_output(1, kFirstOutputTimeout));
  const auto signalled = std::chrono::steady_clock::now();
  process.send_signal(SIGINT);
  const auto r = process.wait();
  EXPECT_EQ(r.exit_code, kExitInterrupted) << describe(r);
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, kPromptExit) << "cancellation did not unwind the command";
  EXPECT_EQ(r.out.find("\"result\""), std::string::npos) << describe(r);
}

TEST(LlmctlSignals, CtrlCDuringBenchCancelsAndExits130) {
  LlmctlProcess process(with_plugins({"bench", "--backend", "stub", "--max-tokens", "100000", "--opt",
                                      "token_delay_us=20000", "--opt", "prefill_delay_us=1"}));
  ASSERT_TRUE(process.wait_for_signal_handler(SIGINT, kFirstOutputTimeout));
  std::this_thread::sleep_for(kLetRequestsStart);
  const auto signalled = std::chrono::steady_clock::now();
  process.send_signal(SIGINT);
  const auto r = process.wait();
  EXPECT_EQ(r.exit_code, kExitInterrupted) << describe(r);
  EXPECT_LT(std::chrono::steady_clock::now() - signalled, kPromptExit) << "cancellation did not unwind the command";
}

TEST(LlmctlModels, MakeModelThenInfoShowsALlamaModel) {
  TempDir dir;
  const auto model = (dir.path() / "tiny.gguf").string();
  const auto made = run_llmctl({"make-model", "--tiny", model, "--seed", "7"});
  ASSERT_EQ(made.exit_code, 0) << describe(made);
  ASSERT_TRUE(std::filesystem::exists(model));

  const auto info = run_llmctl({"info", model, "--json"});
  ASSERT_EQ(info.exit_code, 0) << describe(info);
  ASSERT_EQ(info.out_lines().size(), 1U) << describe(info);
  EXPECT_EQ(parse_object(info.out).at("architecture").as_string(), "llama");

  const auto text = run_llmctl({"info", model});
  ASSERT_EQ(text.exit_code, 0) << describe(text);
  EXPECT_NE(text.out.find("llama"), std::string::npos) << describe(text);
}

TEST(LlmctlModels, SameSeedWritesTheSameBytes) {
  TempDir dir;
  const auto a = (dir.path() / "a.gguf").string();
  const auto b = (dir.path() / "b.gguf").string();
  ASSERT_EQ(run_llmctl({"make-model", "--tiny", a, "--seed", "3"}).exit_code, 0);
  ASSERT_EQ(run_llmctl({"make-model", "--tiny", b, "--seed", "3"}).exit_code, 0);
  EXPECT_EQ(std::filesystem::file_size(a), std::filesystem::file_size(b));
}

TEST(LlmctlModels, ModelsListsGoodFilesAndExplainsBadOnes) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "sub");
  ASSERT_EQ(run_llmctl({"make-model", "--tiny", (dir.path() / "sub" / "tiny.gguf").string()}).exit_code, 0);
  { std::ofstream(dir.path() / "broken.gguf") << "not a model"; }

  const auto flat = run_llmctl({"models", dir.path().string(), "--json"});
  ASSERT_EQ(flat.exit_code, 0) << describe(flat);
  const auto flat_models = parse_object(flat.out).at("models").as_array();
  ASSERT_EQ(flat_models.size(), 1U) << describe(flat);
  EXPECT_FALSE(flat_models[0].as_object().at("ok").as_bool());

  const auto deep = run_llmctl({"models", dir.path().string(), "--recursive", "--json"});
  ASSERT_EQ(deep.exit_code, 0) << describe(deep);
  const auto deep_models = parse_object(deep.out).at("models").as_array();
  ASSERT_EQ(deep_models.size(), 2U) << describe(deep);
  int ok = 0;
  for (const auto& item : deep_models) ok += item.as_object().at("ok").as_bool() ? 1 : 0;
  EXPECT_EQ(ok, 1);
}

TEST(LlmctlModels, InfoOfAMissingFileExitsOneWithOneLine) {
  const auto r = run_llmctl({"info", "/nonexistent/model.gguf"});
  EXPECT_EQ(r.exit_code, kExitFailure) << describe(r);
  ASSERT_EQ(r.err_lines().size(), 1U) << describe(r);
  EXPECT_NE(r.err.find("/nonexistent/model.gguf"), std::string::npos) << describe(r);
}

}  // namespace
