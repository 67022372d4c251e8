// Constrained output and logit_bias against the real llama-server and the tiny random model: the
// grammar llama-server builds from a JSON schema (or is given) decides what the model can write,
// whatever its weights, so these tests hold for random weights too.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "llama_cpp_fixture.hpp"
#include "stream_helpers.hpp"
#include "support/greedy_config.hpp"

namespace inference::llama_cpp::test {
namespace {

namespace asio = boost::asio;
using inference::test::greedy;

constexpr uint32_t kShortContextPerSlot = 1024;
// Far more than any output the schema or grammar allows (its whitespace and digits are bounded):
// the generation ends because the grammar is complete (eos), never because of the budget.
constexpr int32_t kRoomForTheWholeOutput = 800;
constexpr int32_t kOneToken = 1;
constexpr int64_t kCountMaximum = 99;
// Sampled generations, beside greedy ones: the constraint must hold whatever is sampled.
const std::vector<uint64_t> kSeeds{1, 2, 3};
constexpr float kSampledTemperature = 1.0F;

// An object with required properties of bounded size: an enum, a bounded integer, a boolean.
constexpr const char* kSchema = R"({
  "type": "object",
  "properties": {
    "answer": {"enum": ["yes", "no", "maybe"]},
    "count": {"type": "integer", "minimum": 0, "maximum": 99},
    "ok": {"type": "boolean"}
  },
  "required": ["answer", "count", "ok"],
  "additionalProperties": false
})";

GenerateConfig schema_config(std::optional<uint64_t> seed) {
  GenerateConfig config = greedy(kRoomForTheWholeOutput);
  config.json_schema = kSchema;
  if (seed) {
    config.temperature = kSampledTemperature;
    config.seed = *seed;
  }
  return config;
}

std::string text_of(const std::vector<Token>& tokens) {
  std::string text;
  for (const Token& token : tokens) text += token.text;
  return text;
}

// Why `text` is not a JSON object that matches kSchema, or "" when it is one.
std::string schema_mismatch(const std::string& text) {
  boost::system::error_code ec;
  const boost::json::value value = boost::json::parse(text, ec);
  if (ec) return "not JSON (" + ec.message() + ")";
  const boost::json::object* object = value.if_object();
  if (object == nullptr) return "not an object";
  if (object->size() != 3) return "not exactly the three properties";
  const boost::json::value* answer = object->if_contains("answer");
  if (answer == nullptr || !answer->is_string()) return "no string answer";
  const std::string_view word = answer->as_string();
  if (word != "yes" && word != "no" && word != "maybe") return "answer not in the enum";
  const boost::json::value* count = object->if_contains("count");
  if (count == nullptr || !count->is_int64()) return "no integer count";
  if (count->as_int64() < 0 || count->as_int64() > kCountMaximum) return "count out of range";
  const boost::json::value* ok = object->if_contains("ok");
  if (ok == nullptr || !ok->is_bool()) return "no boolean ok";
  return "";
}

std::vector<Message> question() {
  std::vector<Message> messages;
  messages.push_back(Message{"system", "Answer in JSON."});
  messages.push_back(Message{"user", "Is the sky blue, and how many moons has Mars?"});
  return messages;
}

TEST(LlamaCppConstrainedTest, JsonSchemaGenerationIsJsonMatchingTheSchemaGreedyAndSampled) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    std::vector<std::optional<uint64_t>> runs{std::nullopt};
    for (const uint64_t seed : kSeeds) runs.emplace_back(seed);
    for (const std::optional<uint64_t>& seed : runs) {
      TokenStream stream = model->generate("Reply:", schema_config(seed));
      // The streamed tokens, concatenated, are the JSON document: nothing before or after it.
      const std::string text = text_of(co_await drain(stream));
      EXPECT_EQ(schema_mismatch(text), "") << "seed " << seed.value_or(0) << ": " << text;
      EXPECT_EQ(stream.result().finish_reason, FinishReason::eos) << text;
      std::printf("[ OUTPUT   ] seed %llu: %s\n", static_cast<unsigned long long>(seed.value_or(0)), text.c_str());
    }
    co_await model->close();
  });
}

TEST(LlamaCppConstrainedTest, JsonSchemaChatIsJsonMatchingTheSchema) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    for (const uint64_t seed : kSeeds) {
      TokenStream stream = model->chat(question(), schema_config(seed));
      const std::string text = text_of(co_await drain(stream));
      EXPECT_EQ(schema_mismatch(text), "") << "seed " << seed << ": " << text;
      // The rendered chat template, not the bare question, was the prompt.
      EXPECT_GT(stream.result().metrics.prompt_tokens, 15U);
    }
    co_await model->close();
  });
}

TEST(LlamaCppConstrainedTest, AGrammarLimitsTheOutputToItsWords) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    for (const uint64_t seed : kSeeds) {
      GenerateConfig config = schema_config(seed);
      config.json_schema.clear();
      config.grammar = R"(root ::= ("yes" | "no"))";
      TokenStream stream = model->generate("Is it raining?", config);
      const std::string text = text_of(co_await drain(stream));
      EXPECT_TRUE(text == "yes" || text == "no") << "seed " << seed << ": '" << text << "'";
      EXPECT_EQ(stream.result().finish_reason, FinishReason::eos);
    }
    co_await model->close();
  });
}

// One slot: a refused request must hand it on, or the next request would wait for ever.
TEST(LlamaCppConstrainedTest, BadSchemaAndGrammarAreInvalidArgumentsQuotingTheServerAndTheModelServesOn) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(1, kShortContextPerSlot));
    const int pid = model->server_pid();

    GenerateConfig schema = greedy(kRoomForTheWholeOutput);
    schema.json_schema = R"({"type":"objectx"})";
    TokenStream bad_schema = model->generate("Reply:", schema);
    const std::optional<Error> schema_error = co_await drain_error(bad_schema);
    EXPECT_TRUE(schema_error && schema_error->is(errc::invalid_argument))
        << (schema_error ? schema_error->what() : "no error");
    if (schema_error) {
      EXPECT_NE(std::string(schema_error->what()).find("unrecognized type objectx"), std::string::npos)
          << schema_error->what();
    }

    GenerateConfig grammar = greedy(kRoomForTheWholeOutput);
    grammar.grammar = R"(root ::= ("yes" | )";
    TokenStream bad_grammar = model->chat(question(), grammar);
    const std::optional<Error> grammar_error = co_await drain_error(bad_grammar);
    EXPECT_TRUE(grammar_error && grammar_error->is(errc::invalid_argument))
        << (grammar_error ? grammar_error->what() : "no error");
    if (grammar_error) {
      EXPECT_NE(std::string(grammar_error->what()).find("failed to parse grammar"), std::string::npos)
          << grammar_error->what();
      // Where the grammar is wrong is only in the server's log; it comes as the detail when the
      // server had printed it by then (its log is written by a thread of its own).
      std::printf("[ DETAIL   ] %s\n", grammar_error->detail().c_str());
    }

    // Neither counted as a server failure: same server, no restart, and the one slot is free.
    EXPECT_EQ(model->server_pid(), pid);
    EXPECT_EQ(model->stats().restarts, 0U);
    TokenStream after = model->generate("Reply:", schema_config(std::nullopt));
    const std::string text = text_of(co_await drain(after));
    EXPECT_EQ(schema_mismatch(text), "") << text;
    co_await model->close();
  });
}

TEST(LlamaCppConstrainedTest, ASchemaThatIsNotJsonIsRefusedBeforeAnySlotIsTaken) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(1, kShortContextPerSlot));
    GenerateConfig config = greedy(kRoomForTheWholeOutput);
    config.json_schema = R"({"type": object})";
    TokenStream stream = model->generate("Reply:", config);
    const std::optional<Error> error = co_await drain_error(stream);
    EXPECT_TRUE(error && error->is(errc::invalid_argument)) << (error ? error->what() : "no error");
    if (error) {
      EXPECT_NE(
          std::string(error->what()).find("GenerateConfig::json_schema is not valid JSON: syntax error at offset 9"),
          std::string::npos)
          << error->what();
    }
    EXPECT_EQ(model->stats().requests_total, 0U) << "a refused request reached the slot queue";
    co_await model->close();
  });
}

TEST(LlamaCppConstrainedTest, MinusInfinityLogitBiasOnTheGreedyFirstTokenChangesTheFirstToken) {
  INFERENCE_SKIP_WITHOUT_LLAMA_SERVER();
  run_test([]() -> asio::awaitable<void> {
    auto model = co_await load_tiny(tiny_options(kTestSlots, kShortContextPerSlot));
    TokenStream free = model->generate("Hello", greedy(kOneToken));
    const std::vector<Token> chosen = co_await drain(free);
    EXPECT_EQ(chosen.size(), 1U);
    if (chosen.empty()) co_return;

    GenerateConfig forbid = greedy(kOneToken);
    forbid.logit_bias = {{chosen.front().id, -std::numeric_limits<float>::infinity()}};
    TokenStream forbidden = model->generate("Hello", forbid);
    const std::vector<Token> other = co_await drain(forbidden);
    EXPECT_EQ(other.size(), 1U);
    if (!other.empty()) {
      EXPECT_NE(other.front().id, chosen.front().id);
    }

    // A finite bias is passed on too: a large one makes its token the greedy choice.
    constexpr int32_t kWorld = 3186;  // " world" in the tiny model's vocabulary
    GenerateConfig favour = greedy(kOneToken);
    favour.logit_bias = {{kWorld, 100.0F}};
    TokenStream favoured = model->generate("Hello", favour);
    const std::vector<Token> world = co_await drain(favoured);
    EXPECT_EQ(world.size(), 1U);
    if (!world.empty()) {
      EXPECT_EQ(world.front().id, kWorld);
    }
    co_await model->close();
  });
}

}  // namespace
}  // namespace inference::llama_cpp::test
