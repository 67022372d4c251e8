// GenerateConfig: ranges checked by validate() and applied before any work wherever a request
// enters (generate, chat, batch_generate, classify), and the two bounds on a request: a fixed
// deadline and a timeout measured from each generate() call. Driven through the stub model
// in-process, as a direct user of a backend would.
#include "inference/generate_config.hpp"

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "stub_model.hpp"
#include "support/run_async.hpp"

namespace inference {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using testing::run_async;

// An out-of-range setting and the field name its error must carry.
struct BadField {
  std::string field;
  std::function<void(GenerateConfig&)> set;
};

std::vector<BadField> bad_fields() {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  return {
      {"max_tokens", [](GenerateConfig& c) { c.max_tokens = -1; }},
      {"temperature", [](GenerateConfig& c) { c.temperature = -0.5F; }},
      {"temperature", [nan](GenerateConfig& c) { c.temperature = nan; }},
      {"top_k", [](GenerateConfig& c) { c.top_k = -1; }},
      {"top_p", [](GenerateConfig& c) { c.top_p = 1.5F; }},
      {"top_p", [](GenerateConfig& c) { c.top_p = -0.1F; }},
      {"min_p", [](GenerateConfig& c) { c.min_p = 2.0F; }},
      {"min_p", [](GenerateConfig& c) { c.min_p = -1.0F; }},
      {"repeat_penalty", [](GenerateConfig& c) { c.repeat_penalty = -1.0F; }},
      {"repeat_penalty", [](GenerateConfig& c) { c.repeat_penalty = std::numeric_limits<float>::infinity(); }},
      {"logprobs", [](GenerateConfig& c) { c.logprobs = -1; }},
  };
}

GenerateConfig with(const BadField& bad) {
  GenerateConfig config;
  bad.set(config);
  return config;
}

std::shared_ptr<TextModel> make_stub(asio::any_io_executor ex, std::map<std::string, std::string> stub_options = {}) {
  LoadOptions options;
  options.parallel_slots = 1;
  options.backend_options = std::move(stub_options);
  return std::make_shared<stub::StubModel>(ex, "stub", options, stub::parse_stub_options(options.backend_options));
}

// The error a stream's first next() throws, or std::nullopt when it yields a token or ends.
asio::awaitable<std::optional<Error>> first_error(TokenStream& stream) {
  try {
    std::optional<Token> token = co_await stream.next();
    (void)token;
  } catch (const Error& e) {
    co_return e;
  }
  co_return std::nullopt;
}

bool names(const Error& error, const std::string& field) {
  return std::string(error.what()).find("GenerateConfig::" + field) != std::string::npos;
}

// ---------------------------------------------------------------- validate()

TEST(GenerateConfigValidate, EachOutOfRangeFieldIsInvalidArgumentNamingIt) {
  for (const auto& bad : bad_fields()) {
    const auto error = validate(with(bad));
    ASSERT_TRUE(error.has_value()) << bad.field;
    EXPECT_TRUE(error->is(errc::invalid_argument)) << error->what();
    EXPECT_TRUE(names(*error, bad.field)) << error->what();
  }
}

TEST(GenerateConfigValidate, BoundaryValuesAndUnsetFieldsAreAccepted) {
  EXPECT_FALSE(validate(GenerateConfig()).has_value());
  const std::vector<std::function<void(GenerateConfig&)>> edges{
      [](GenerateConfig& c) { c.max_tokens = 0; },        [](GenerateConfig& c) { c.temperature = 0.0F; },
      [](GenerateConfig& c) { c.temperature = 2.0F; },    [](GenerateConfig& c) { c.top_k = 0; },
      [](GenerateConfig& c) { c.top_p = 0.0F; },          [](GenerateConfig& c) { c.top_p = 1.0F; },
      [](GenerateConfig& c) { c.min_p = 0.0F; },          [](GenerateConfig& c) { c.min_p = 1.0F; },
      [](GenerateConfig& c) { c.repeat_penalty = 0.0F; }, [](GenerateConfig& c) { c.logprobs = 10; },
  };
  GenerateConfig all_at_once;
  for (const auto& set : edges) {
    GenerateConfig alone;
    set(alone);
    set(all_at_once);
    const auto error = validate(alone);
    EXPECT_FALSE(error.has_value()) << error->what();
  }
  EXPECT_FALSE(validate(all_at_once).has_value());
}

// ---------------------------------------------------------------- where requests enter

TEST(GenerateConfigValidate, GenerateAndChatFailAtTheFirstNextBeforeAnyWork) {
  run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    for (const auto& bad : bad_fields()) {
      auto generated = model->generate("prompt", with(bad));
      const std::optional<Error> error = co_await first_error(generated);
      EXPECT_TRUE(error && error->is(errc::invalid_argument) && names(*error, bad.field))
          << bad.field << ": " << (error ? error->what() : "no error");
      EXPECT_EQ(generated.result().finish_reason, FinishReason::error);
      EXPECT_EQ(generated.result().error, make_error_code(errc::invalid_argument));

      std::vector<Message> messages{Message{"user", "hi"}};
      auto chatted = model->chat(std::move(messages), with(bad));
      const std::optional<Error> chat_error = co_await first_error(chatted);
      EXPECT_TRUE(chat_error && chat_error->is(errc::invalid_argument)) << bad.field;
    }
    EXPECT_EQ(model->stats().requests_total, 0U) << "a refused request must never be admitted";
  });
}

TEST(GenerateConfigValidate, BatchGenerateAndClassifyThrowBeforeAdmittingAnything) {
  run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    GenerateConfig config;
    config.top_p = 1.5F;
    try {
      std::vector<std::string> prompts{"a", "b"};
      auto results = co_await model->batch_generate(std::move(prompts), config);
      ADD_FAILURE() << "batch_generate accepted top_p = 1.5 for " << results.size() << " prompts";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument) && names(e, "top_p")) << e.what();
    }
    config = GenerateConfig();
    config.temperature = -1.0F;
    try {
      std::vector<std::string> prompts{"a"};
      auto results = co_await model->classify(std::move(prompts), config);
      ADD_FAILURE() << "classify accepted temperature = -1 for " << results.size() << " prompts";
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::invalid_argument) && names(e, "temperature")) << e.what();
    }
    EXPECT_EQ(model->stats().requests_total, 0U);
  });
}

// ---------------------------------------------------------------- deadline and timeout

// How a bounded request ends: finish_reason error with error deadline_exceeded, the one a host
// switches on, and next() throws the same.
void expect_deadline_exceeded(const TokenStream& stream, const std::optional<Error>& thrown) {
  EXPECT_TRUE(thrown && thrown->is(errc::deadline_exceeded)) << (thrown ? thrown->what() : "no error");
  const GenerateResult result = stream.result();
  EXPECT_EQ(result.finish_reason, FinishReason::error);
  EXPECT_EQ(result.error, make_error_code(errc::deadline_exceeded));
  EXPECT_FALSE(result.error_message.empty());
}

TEST(GenerateConfigBounds, TimeoutIsMeasuredFromGenerateNotFromWhenTheConfigWasMade) {
  constexpr auto kTimeout = std::chrono::milliseconds(50);
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, {{"hang_after_tokens", "0"}});
    GenerateConfig config;
    config.with_timeout(kTimeout);
    // Let more than the timeout pass between making the config and using it.
    asio::steady_timer later(ex, 2 * kTimeout);
    co_await later.async_wait(asio::use_awaitable);
    const auto asked_at = Clock::now();
    auto stream = model->generate("p", config);
    const std::optional<Error> thrown = co_await first_error(stream);
    expect_deadline_exceeded(stream, thrown);
    // Timers never fire early: ending sooner would mean the clock started before generate().
    EXPECT_GE(Clock::now() - asked_at, kTimeout);
    EXPECT_GE(stream.result().metrics.total_time, kTimeout);
  });
}

TEST(GenerateConfigBounds, TheEarlierOfDeadlineAndTimeoutApplies) {
  constexpr auto kSoon = std::chrono::milliseconds(10);
  constexpr auto kLate = std::chrono::hours(1);
  run_async([&]() -> asio::awaitable<void> {
    auto ex = co_await asio::this_coro::executor;
    auto model = make_stub(ex, {{"hang_after_tokens", "0"}});
    // {deadline from now, timeout}: either one may be the earlier.
    for (const auto& [until_deadline, timeout] : {std::pair<Clock::duration, Clock::duration>{kLate, kSoon},
                                                  std::pair<Clock::duration, Clock::duration>{kSoon, kLate}}) {
      GenerateConfig config;
      config.deadline = Clock::now() + until_deadline;
      config.timeout = timeout;
      auto stream = model->generate("p", config);
      const std::optional<Error> thrown = co_await first_error(stream);
      expect_deadline_exceeded(stream, thrown);
    }
  });
}

TEST(GenerateConfigBounds, AnUnrepresentablyLongTimeoutNeverPasses) {
  run_async([]() -> asio::awaitable<void> {
    auto model = make_stub(co_await asio::this_coro::executor);
    GenerateConfig config;
    config.max_tokens = 3;
    config.with_timeout(Clock::duration::max());
    auto stream = model->generate("p", config);
    int tokens = 0;
    while (co_await stream.next()) ++tokens;
    EXPECT_EQ(tokens, 3);
    EXPECT_EQ(stream.result().finish_reason, FinishReason::length);
  });
}

}  // namespace
}  // namespace inference
