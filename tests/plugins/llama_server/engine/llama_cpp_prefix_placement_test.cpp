// Prefix-cache-aware placement against the real llama-server: a workload of prompts that share a
// long prefix must get at least as many prompt tokens from the slots' KV caches through the
// runtime (which pins id_slot from its own pool) as llama-server's own slot choice gives a plain
// client (no id_slot) for the same workload, measured in the same test on a server started by
// hand with the engine's own flags. And a session still returns to its slot when the prompt
// would prefer another one. Totals are printed as [ MEASURE  ] lines.
#include <gtest/gtest.h>

#include <boost/asio/this_coro.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "concurrent_tasks.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "llama_cpp_fixture.hpp"
#include "stream_helpers.hpp"
#include "support/greedy_config.hpp"
#include "support/test_server.hpp"

namespace inference::llama_cpp::test {
namespace {

namespace asio = boost::asio;
namespace json = boost::json;
using ::inference::test::greedy;
using llama_server::HttpConnection;
using llama_server::HttpMethod;

constexpr int kRequests = 32;
constexpr int kPrefixWords = 300;
constexpr uint32_t kSlots = 4;
// Room for the ~400-token prompt and its answer in every slot.
constexpr uint32_t kContextPerSlot = 1024;
constexpr int32_t kAnswerTokens = 4;
// Words of the prefix, cycled: ordinary English so the tokenizer sees ordinary text.
constexpr std::string_view kPrefixVocabulary[] = {"the",    "system", "prompt", "explains", "how",    "to",
                                                  "answer", "every",  "user",   "question", "with",   "care",
                                                  "and",    "always", "cites",  "sources",  "briefly"};
// The suffixes start with distinct words whose first characters all differ, so two prompts share
// exactly the prefix (no extra token or character): the comparison with llama-server's token-level
// choice cannot hinge on how a tie of a few characters is broken.
constexpr std::string_view kSuffixWords[kRequests] = {
    "Alfa",    "Bravo", "Charlie",  "Delta", "Echo",   "Foxtrot", "Golf",   "Hotel",  "India", "Juliett", "Kilo",
    "Lima",    "Mike",  "November", "Oscar", "Papa",   "Quebec",  "Romeo",  "Sierra", "Tango", "Uniform", "Victor",
    "Whiskey", "Xray",  "Yankee",   "Zulu",  "apples", "bread",   "cheese", "dates",  "eggs",  "figs"};

std::string shared_prefix() {
  std::string prefix;
  for (int i = 0; i < kPrefixWords; ++i) {
    if (i > 0) prefix += ' ';
    prefix += kPrefixVocabulary[i % std::size(kPrefixVocabulary)];
  }
  return prefix + ".";
}

std::vector<std::string> workload() {
  const std::string prefix = shared_prefix();
  std::vector<std::string> prompts;
  for (int i = 0; i < kRequests; ++i) {
    prompts.push_back(prefix + " " + std::string(kSuffixWords[i]) + " asks question " + std::to_string(i) + "?");
  }
  return prompts;
}

struct CacheTotals {
  uint64_t prompt_tokens = 0;  // what the server evaluated or reused
  uint64_t cached_tokens = 0;  // reused from a slot's KV cache
  int requests = 0;
};

// `concurrency` clients, each taking the next prompt until none is left; `send` runs one request
// and adds its figures to the totals.
template <class Send>
asio::awaitable<void> run_workload(int concurrency, const std::vector<std::string>& prompts, Send send) {
  std::size_t next = 0;
  std::vector<asio::awaitable<void>> clients;
  for (int c = 0; c < concurrency; ++c) {
    clients.push_back(
        [](std::size_t& next, const std::vector<std::string>& prompts, Send send) -> asio::awaitable<void> {
          while (next < prompts.size()) {
            const std::string& prompt = prompts[next++];  // the clients share one strand
            co_await send(prompt);
          }
        }(next, prompts, send));
  }
  co_await run_concurrently(std::move(clients));
}

// The engine's server command line from its -m on, without the listen flags: the flags the plain
// server gets, so both runs differ only in who chooses the slot.
std::vector<std::string> engine_server_flags(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  const std::string raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> argv;
  for (std::size_t start = 0; start < raw.size();) {
    const std::size_t end = raw.find('\0', start);
    argv.push_back(raw.substr(start, end - start));
    start = end == std::string::npos ? raw.size() : end + 1;
  }
  std::vector<std::string> flags;
  bool from_model = false;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    from_model = from_model || argv[i] == "-m";
    if (!from_model) continue;
    if (argv[i] == "--host" || argv[i] == "--port") {
      ++i;  // and its value
      continue;
    }
    flags.push_back(argv[i]);
  }
  return flags;
}

struct RuntimeRun {
  CacheTotals totals;
  std::vector<std::string> server_flags;
  uint64_t prefix_hits = 0;
};

asio::awaitable<RuntimeRun> run_through_runtime(int concurrency) {
  auto model = co_await load_tiny(tiny_options(kSlots, kContextPerSlot));
  RuntimeRun run;
  run.server_flags = engine_server_flags(model->server_pid());
  const std::vector<std::string> prompts = workload();
  co_await run_workload(concurrency, prompts, [&](const std::string& prompt) -> asio::awaitable<void> {
    TokenStream stream = model->generate(prompt, greedy(kAnswerTokens));
    co_await drain(stream);
    const GenerateMetrics metrics = stream.result().metrics;
    run.totals.prompt_tokens += metrics.prompt_tokens;
    run.totals.cached_tokens += metrics.cached_prompt_tokens;
    ++run.totals.requests;
  });
  run.prefix_hits = model->stats().prefix_hits;
  co_await model->close();
  co_return run;
}

asio::awaitable<CacheTotals> run_through_plain_client(int concurrency, std::vector<std::string> flags) {
  llama_server::test::TestServerOptions options;
  options.flags = std::move(flags);
  llama_server::test::TestServer server(options);
  co_await server.wait_ready();
  CacheTotals totals;
  const std::vector<std::string> prompts = workload();
  co_await run_workload(concurrency, prompts, [&](const std::string& prompt) -> asio::awaitable<void> {
    // What a plain client sends: no id_slot, so llama-server picks the slot itself.
    json::object body{{"prompt", prompt},
                      {"n_predict", kAnswerTokens},
                      {"temperature", 0},
                      {"cache_prompt", true},
                      {"stream", false}};
    HttpConnection connection(co_await asio::this_coro::executor, server.endpoint());
    const auto response = co_await connection.request(HttpMethod::post, "/completion", json::serialize(body));
    const json::object answer = json::parse(response.body).as_object();
    totals.prompt_tokens += answer.at("tokens_evaluated").to_number<uint64_t>();
    totals.cached_tokens += answer.at("timings").as_object().at("cache_n").to_number<uint64_t>();
    ++totals.requests;
  });
  co_return totals;
}

void expect_runtime_caches_at_least_as_much_as_the_server_choice(int concurrency) {
  RuntimeRun runtime;
  CacheTotals plain;
  run_test([&]() -> asio::awaitable<void> {
    runtime = co_await run_through_runtime(concurrency);
    plain = co_await run_through_plain_client(concurrency, runtime.server_flags);
  });
  std::printf(
      "[ MEASURE  ] %d requests, concurrency %d, %u slots: cached prompt tokens runtime %llu of %llu, "
      "plain client %llu of %llu\n",
      kRequests, concurrency, kSlots, static_cast<unsigned long long>(runtime.totals.cached_tokens),
      static_cast<unsigned long long>(runtime.totals.prompt_tokens),
      static_cast<unsigned long long>(plain.cached_tokens), static_cast<unsigned long long>(plain.prompt_tokens));
  ASSERT_EQ(runtime.totals.requests, kRequests);
  ASSERT_EQ(plain.requests, kRequests);
  // The same prompts through the same tokenizer: otherwise the totals compare different work.
  EXPECT_EQ(runtime.totals.prompt_tokens, plain.prompt_tokens);
  EXPECT_GT(plain.cached_tokens, 0U) << "the workload does not exercise the prompt cache at all";
  EXPECT_GE(runtime.totals.cached_tokens, plain.cached_tokens);
  // Every request after the first round (one per client) finds a slot holding the prefix.
  EXPECT_GE(runtime.prefix_hits, static_cast<uint64_t>(kRequests - concurrency));
}

TEST(LlamaCppPrefixPlacementTest, SharedPrefixAtConcurrency1CachesAtLeastAsManyTokensAsTheServerOwnSlotChoice) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  expect_runtime_caches_at_least_as_much_as_the_server_choice(1);
}

TEST(LlamaCppPrefixPlacementTest, SharedPrefixAtConcurrency4CachesAtLeastAsManyTokensAsTheServerOwnSlotChoice) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  expect_runtime_caches_at_least_as_much_as_the_server_choice(4);
}

// One request, drained; where it ran.
asio::awaitable<GenerateMetrics> placed(TextModel& model, std::string prompt, std::string session) {
  GenerateConfig config = greedy(kAnswerTokens);
  config.session = std::move(session);
  TokenStream stream = model.generate(std::move(prompt), config);
  co_await drain(stream);
  co_return stream.result().metrics;
}

TEST(LlamaCppPrefixPlacementTest, SessionReturnsToItsSlotEvenWhenItsPromptPrefersAnotherSlot) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kSlots, kContextPerSlot));
    const std::string other = shared_prefix();
    const GenerateMetrics first = co_await placed(*model, "Hello, this is the start of our conversation.", "talk");
    const GenerateMetrics unrelated = co_await placed(*model, other + " Alfa", "");
    const GenerateMetrics by_prefix = co_await placed(*model, other + " Bravo", "");
    const GenerateMetrics returning = co_await placed(*model, other + " Charlie", "talk");
    EXPECT_GE(first.slot, 0);
    EXPECT_NE(unrelated.slot, first.slot) << "least recently used: not the slot that just served";
    // Without a session, this prompt goes where its prefix is cached...
    EXPECT_EQ(by_prefix.slot, unrelated.slot);
    EXPECT_GT(by_prefix.cached_prompt_tokens, 0U);
    // ...and with the session, to the session's slot all the same.
    EXPECT_EQ(returning.slot, first.slot);
    EXPECT_EQ(returning.replica, first.replica);
    EXPECT_GE(model->stats().affinity_hits, 1U);
    co_await model->close();
  });
}

}  // namespace
}  // namespace inference::llama_cpp::test
