// LlamaServerModel when things go wrong: the server killed or stopped mid-stream, the restart
// budget spent, and loads that cannot work (binary, model, server-rejected requests). Every
// failure must arrive as its typed error with the context a user can act on.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "inference/gguf/model_info_reader.hpp"
#include "inference/llama_server/memory_fit.hpp"
#include "llama_cpp_fixture.hpp"
#include "stream_helpers.hpp"
#include "support/scratch_directory.hpp"

namespace inference::llama_cpp::test {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kShortContextPerSlot = 256;
constexpr int32_t kShortGeneration = 8;
constexpr int32_t kUntilContextFull = 1'000'000;
constexpr int kQueuedBehindTheCrash = 2;
// Small enough that a SIGSTOPped server is noticed quickly, far above a token's time.
constexpr std::string_view kTestStallTimeoutMs = "500";
// A prompt far longer than kTinyContext tokens (one token per " word").
constexpr uint32_t kTinyContext = 256;  // the smallest slot context this llama-server accepts
constexpr int kLongPromptWords = 600;

GenerateConfig greedy(int32_t max_tokens) {
  GenerateConfig config;
  config.max_tokens = max_tokens;
  config.temperature = 0.0F;
  return config;
}

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

using ScratchDirectory = inference::test::ScratchDirectory;

TEST(LlamaCppFailureTest, KilledServerFailsInFlightStreamsWithServerExitedAndQueuedOnesRunAfterRestart) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    LoadOptions options = tiny_options();
    options.backend_options["ignore_eos"] = "1";
    auto model = co_await load_tiny(options);
    const int pid = model->server_pid();
    std::vector<TokenStream> running;
    for (uint32_t i = 0; i < kTestSlots; ++i) {
      running.push_back(model->generate("Running " + std::to_string(i), greedy(kUntilContextFull)));
    }
    for (auto& stream : running) {
      std::optional<Token> first = co_await stream.next();
      EXPECT_TRUE(first.has_value());
    }
    std::vector<TokenStream> queued;
    for (int i = 0; i < kQueuedBehindTheCrash; ++i) {
      queued.push_back(model->generate("Queued " + std::to_string(i), greedy(kShortGeneration)));
    }
    const bool waiting = co_await wait_until([&] { return model->stats().queue_depth == kQueuedBehindTheCrash; });
    EXPECT_TRUE(waiting);

    const auto killed_at = Clock::now();
    EXPECT_EQ(::kill(pid, SIGKILL), 0);
    double slowest_ms = 0;
    for (auto& stream : running) {
      std::optional<Error> error = co_await drain_error(stream);
      slowest_ms = std::max(slowest_ms, ms_since(killed_at));
      EXPECT_TRUE(error && error->is(errc::child_exited)) << (error ? error->what() : "no error");
      if (error) {
        EXPECT_NE(std::string(error->what()).find("signal 9"), std::string::npos) << error->what();
        // One line to report; the server's last lines beside it.
        EXPECT_EQ(std::string(error->what()).find('\n'), std::string::npos) << error->what();
        EXPECT_FALSE(error->detail().empty());
      }
    }
    std::printf("[ MEASURE  ] kill -9 -> all %u in-flight streams failed: %.1f ms\n", kTestSlots, slowest_ms);
    for (auto& stream : queued) {
      std::vector<Token> tokens = co_await drain(stream);
      EXPECT_EQ(tokens.size(), static_cast<std::size_t>(kShortGeneration));
    }
    EXPECT_EQ(model->stats().restarts, 1U);
    EXPECT_NE(model->server_pid(), pid);
    EXPECT_FALSE(process_exists(pid));
    TokenStream after = model->generate("After the restart", greedy(kShortGeneration));
    std::vector<Token> tokens = co_await drain(after);
    EXPECT_EQ(tokens.size(), static_cast<std::size_t>(kShortGeneration));
    co_await model->close();
  });
}

TEST(LlamaCppFailureTest, StoppedServerIsDetectedAsHungKilledAndRestarted) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    LoadOptions options = tiny_options();
    options.backend_options["ignore_eos"] = "1";
    options.backend_options["stall_timeout_ms"] = std::string(kTestStallTimeoutMs);
    auto model = co_await load_tiny(options);
    const int pid = model->server_pid();
    TokenStream stream = model->generate("Running", greedy(kUntilContextFull));
    std::optional<Token> first = co_await stream.next();
    EXPECT_TRUE(first.has_value());
    const auto stopped_at = Clock::now();
    EXPECT_EQ(::kill(pid, SIGSTOP), 0);
    std::optional<Error> error = co_await drain_error(stream);
    EXPECT_TRUE(error && error->is(errc::child_hung)) << (error ? error->what() : "no error");
    std::printf("[ MEASURE  ] SIGSTOP -> child_hung: %.1f ms (stall timeout %s ms)\n", ms_since(stopped_at),
                std::string(kTestStallTimeoutMs).c_str());
    const bool restarted = co_await wait_until([&] {
      const int now = model->server_pid();
      return now != 0 && now != pid;
    });
    EXPECT_TRUE(restarted);
    EXPECT_FALSE(process_exists(pid));
    TokenStream after = model->generate("After the restart", greedy(kShortGeneration));
    std::vector<Token> tokens = co_await drain(after);
    EXPECT_EQ(tokens.size(), static_cast<std::size_t>(kShortGeneration));
    EXPECT_GE(model->stats().restarts, 1U);
    co_await model->close();
  });
}

TEST(LlamaCppFailureTest, ExhaustedRestartBudgetFailsTheModelAndNewRequestsFailFastNamingTheCause) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    LoadOptions options = tiny_options(kTestSlots, kShortContextPerSlot);
    options.backend_options["restart_budget"] = "0";
    auto model = co_await load_tiny(options);
    EXPECT_FALSE(model->stats().failed);
    EXPECT_EQ(::kill(model->server_pid(), SIGKILL), 0);
    const bool failed = co_await wait_until([&] { return model->stats().failed; });
    EXPECT_TRUE(failed);
    const auto asked_at = Clock::now();
    TokenStream stream = model->generate("Anyone there?", greedy(kShortGeneration));
    std::optional<Error> error = co_await drain_error(stream);
    std::printf("[ MEASURE  ] request on a failed model failed after %.1f ms\n", ms_since(asked_at));
    EXPECT_TRUE(error && error->is(errc::model_failed)) << (error ? error->what() : "no error");
    if (error) {
      EXPECT_NE(std::string(error->what()).find("signal 9"), std::string::npos) << error->what();
      EXPECT_EQ(std::string(error->what()).find('\n'), std::string::npos) << error->what();
      EXPECT_FALSE(error->detail().empty()) << "the last server's output";
    }
    EXPECT_EQ(model->server_pid(), 0);
    co_await model->close();
    EXPECT_TRUE(model->stats().failed);
  });
}

TEST(LlamaCppFailureTest, MissingServerBinaryGivesServerStartFailedNamingThePath) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ScratchDirectory scratch;
  LoadOptions options = tiny_options();
  const std::string missing = (scratch.path() / "no-such-llama-server").string();
  options.backend_options["server_path"] = missing;
  const auto error = load_error(test_model_path().string(), options);
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::child_start_failed)) << error->what();
  EXPECT_NE(std::string(error->what()).find(missing), std::string::npos) << error->what();
  EXPECT_TRUE(no_children_left());
}

TEST(LlamaCppFailureTest, NonExecutableServerBinaryGivesServerStartFailed) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ScratchDirectory scratch;
  const fs::path binary = scratch.path() / "llama-server";
  std::ofstream(binary) << "#!/bin/sh\nexit 0\n";
  fs::permissions(binary, fs::perms::owner_read | fs::perms::owner_write);
  LoadOptions options = tiny_options();
  options.backend_options["server_path"] = binary.string();
  const auto error = load_error(test_model_path().string(), options);
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::child_start_failed)) << error->what();
  EXPECT_NE(std::string(error->what()).find("not executable"), std::string::npos) << error->what();
  EXPECT_TRUE(no_children_left());
}

TEST(LlamaCppFailureTest, MissingModelFailsFastWithModelNotFoundAndSpawnsNothing) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ScratchDirectory scratch;
  const auto started = Clock::now();
  const auto error = load_error((scratch.path() / "absent.gguf").string(), tiny_options());
  std::printf("[ MEASURE  ] missing model reported after %.1f ms\n", ms_since(started));
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::model_not_found)) << error->what();
  EXPECT_NE(std::string(error->what()).find("absent.gguf"), std::string::npos) << error->what();
  EXPECT_TRUE(no_children_left());
}

// A server_path that leaves `marker` behind when anything runs it (the version probe included),
// then runs the real server: proof that a load refused before the spawn ran nothing.
fs::path marking_server(const ScratchDirectory& scratch, const fs::path& marker) {
  const fs::path wrapper = scratch.path() / "llama-server";
  std::ofstream(wrapper) << "#!/bin/sh\ntouch '" << marker.string() << "'\nexec '" << test_server_binary().string()
                         << "' \"$@\"\n";
  fs::permissions(wrapper, fs::perms::owner_all);
  return wrapper;
}

// Issue 16: an explicit context whose weights + KV cache + headroom exceed the host's memory is
// refused with the numbers before anything runs, instead of allocating until the OOM killer.
TEST(LlamaCppFailureTest, ContextBeyondTheHostMemoryCapIsRefusedBeforeTheServerRuns) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ScratchDirectory scratch;
  const fs::path marker = scratch.path() / "server-ran";
  LoadOptions options = tiny_options(kTestSlots, kLongContextPerSlot);
  options.backend_options["server_path"] = marking_server(scratch, marker).string();
  options.backend_options["host_memory_mib"] = "512";  // less than the headroom alone
  const auto error = load_error(test_model_path().string(), options);
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::invalid_argument)) << error->what();
  const std::string message = error->what();
  EXPECT_NE(message.find("needs "), std::string::npos) << message;
  EXPECT_NE(message.find("KV cache"), std::string::npos) << message;
  EXPECT_NE(message.find("for 16384 tokens"), std::string::npos) << message;
  EXPECT_NE(message.find("but the host has 512 MiB free"), std::string::npos) << message;
  EXPECT_FALSE(fs::exists(marker)) << "the server binary ran";
  EXPECT_TRUE(no_children_left());
}

// The same against the host's real MemAvailable: a context per slot whose KV cache alone is more
// than the machine has.
TEST(LlamaCppFailureTest, ContextBeyondTheAvailableHostMemoryIsRefusedBeforeTheServerRuns) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ScratchDirectory scratch;
  const fs::path marker = scratch.path() / "server-ran";
  const ModelInfo tiny = gguf::read_model_info(test_model_path().string());
  constexpr uint32_t kSlots = 1;
  constexpr uint32_t kAbsurdContext = 1U << 30;  // tokens per slot, within llama-server's -c
  const uint64_t available = llama_server::host_available_memory();
  if (llama_server::estimate_fit(tiny, kAbsurdContext, -1, available).fits()) {
    GTEST_SKIP() << "this host has room for " << kAbsurdContext << " tokens of the tiny model's KV cache";
  }
  LoadOptions options = tiny_options(kSlots, kAbsurdContext);
  options.backend_options["server_path"] = marking_server(scratch, marker).string();
  const auto error = load_error(test_model_path().string(), options);
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::invalid_argument)) << error->what();
  EXPECT_NE(std::string(error->what()).find("but the host has"), std::string::npos) << error->what();
  EXPECT_FALSE(fs::exists(marker)) << "the server binary ran";
  EXPECT_TRUE(no_children_left());
}

TEST(LlamaCppFailureTest, CorruptModelGivesInvalidModelAndSpawnsNothing) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  ScratchDirectory scratch;
  const fs::path model = scratch.path() / "corrupt.gguf";
  std::ofstream(model, std::ios::binary) << "GGUF\x03\x00\x00\x00 this is not a model";
  const auto error = load_error(model.string(), tiny_options());
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::invalid_model)) << error->what();
  EXPECT_TRUE(no_children_left());
}

TEST(LlamaCppFailureTest, ServerRefusingToStartGivesServerStartFailedWithItsLastWords) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  LoadOptions options = tiny_options(kTestSlots, kShortContextPerSlot);
  options.backend_options["server_args"] += "\n--no-such-flag";
  const auto error = load_error(test_model_path().string(), options);
  ASSERT_TRUE(error.has_value());
  EXPECT_TRUE(error->is(errc::child_start_failed)) << error->what();
  EXPECT_NE(std::string(error->what()).find("--no-such-flag"), std::string::npos) << error->what();
  EXPECT_TRUE(no_children_left());
}

TEST(LlamaCppFailureTest, OutOfRangeConfigFailsWithInvalidArgumentNamingTheFieldBeforeReachingTheServer) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(1, kShortContextPerSlot));
    // Unchecked, the server answers the first with HTTP 400 and silently accepts the others.
    GenerateConfig negative_max = greedy(-1);
    GenerateConfig negative_temperature = greedy(kShortGeneration);
    negative_temperature.temperature = -1.0F;
    GenerateConfig top_p_above_one = greedy(kShortGeneration);
    top_p_above_one.top_p = 1.5F;
    TokenStream a = model->generate("Hello", negative_max);
    TokenStream b = model->generate("Hello", negative_temperature);
    std::vector<Message> messages{Message{"user", "Hi"}};
    TokenStream c = model->chat(std::move(messages), top_p_above_one);
    const std::vector<std::pair<TokenStream*, std::string>> cases{
        {&a, "max_tokens"}, {&b, "temperature"}, {&c, "top_p"}};
    for (const auto& [stream, field] : cases) {
      std::optional<Error> error = co_await drain_error(*stream);
      EXPECT_TRUE(error && error->is(errc::invalid_argument)) << field << ": " << (error ? error->what() : "no error");
      if (error) {
        EXPECT_NE(std::string(error->what()).find(field), std::string::npos) << error->what();
      }
    }
    EXPECT_EQ(model->stats().requests_total, 0U) << "a refused request reached the slot queue";
    TokenStream valid = model->generate("Hello", greedy(kShortGeneration));
    std::vector<Token> tokens = co_await drain(valid);
    EXPECT_FALSE(tokens.empty());
    co_await model->close();
  });
}

TEST(LlamaCppFailureTest, PromptLongerThanTheSlotContextGivesHttpErrorWithTheServerMessage) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(1, kTinyContext));
    std::string prompt;
    for (int i = 0; i < kLongPromptWords; ++i) prompt += " word";
    TokenStream stream = model->generate(prompt, greedy(kShortGeneration));
    std::optional<Error> error = co_await drain_error(stream);
    EXPECT_TRUE(error && error->is(errc::child_error)) << (error ? error->what() : "no error");
    if (error) {
      EXPECT_NE(std::string(error->what()).find("exceeds the available context size"), std::string::npos)
          << error->what();
    }
    // The only slot is free again.
    TokenStream after = model->generate("Short", greedy(kShortGeneration));
    std::vector<Token> tokens = co_await drain(after);
    EXPECT_FALSE(tokens.empty());
    co_await model->close();
  });
}

}  // namespace
}  // namespace inference::llama_cpp::test
