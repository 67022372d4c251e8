// TextModel's default batch_generate() (core/src/text_model.cpp), driven through the stub model
// in-process: what cancelling a batch does, as text_model.hpp states it.
#include "inference/text_model.hpp"

#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "stub_model.hpp"

namespace inference {
namespace {

namespace asio = boost::asio;

constexpr uint32_t kSlots = 3;
constexpr int kMaxTokens = 5;

std::shared_ptr<TextModel> hanging_stub(asio::any_io_executor ex) {
  LoadOptions options;
  options.parallel_slots = kSlots;
  // Every prompt gives one token, then waits for one that never comes (until cancelled).
  options.backend_options = {{"token_delay_us", "0"}, {"hang_after_tokens", "1"}};
  return std::make_shared<stub::StubModel>(ex, "stub", options, stub::parse_stub_options(options.backend_options));
}

struct Outcome {
  bool done = false;
  std::exception_ptr error;
  std::vector<BatchResult> results;
};

TEST(TextModel, CancellingBatchGenerateEndsItWithCancelledAndFreesEverySlot) {
  asio::io_context io;
  auto model = hanging_stub(io.get_executor());
  GenerateConfig config;
  config.max_tokens = kMaxTokens;
  asio::cancellation_signal cancel;
  Outcome outcome;
  asio::co_spawn(io, model->batch_generate({"a", "b", "c"}, config),
                 asio::bind_cancellation_slot(cancel.slot(), [&](std::exception_ptr e, std::vector<BatchResult> r) {
                   outcome = {true, e, std::move(r)};
                 }));
  io.poll();  // until every prompt has its token and waits, and the batch with them
  ASSERT_FALSE(outcome.done);
  EXPECT_EQ(model->stats().slots_busy, kSlots);

  cancel.emit(asio::cancellation_type::terminal);
  io.poll();
  ASSERT_TRUE(outcome.done) << "a cancelled batch must end, not wait for its prompts";
  ASSERT_TRUE(outcome.error) << "a cancelled batch ends with an exception, not with partial results";
  try {
    std::rethrow_exception(outcome.error);
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::cancelled)) << e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected Error(cancelled), got " << e.what();
  }
  EXPECT_EQ(model->stats().slots_busy, 0U) << "every prompt's request is cancelled with the batch";
  EXPECT_EQ(model->stats().queue_depth, 0U);
}

}  // namespace
}  // namespace inference
