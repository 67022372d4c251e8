#include "inference/llama_server/server_slots.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "inference/error.hpp"
#include "test_data.hpp"

namespace inference::llama_server {
namespace {

void expect_protocol_error(std::string_view body, std::string_view mentions) {
  try {
    (void)parse_server_slots(body);
    ADD_FAILURE() << "no error for " << body.substr(0, 80);
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    EXPECT_NE(std::string_view(e.what()).find(mentions), std::string_view::npos) << e.what();
  }
}

TEST(ServerSlots, ListsEverySlotOfAnIdleServerAsNotProcessing) {
  const std::string body = test::read_test_data("slots_idle.json");
  const auto slots = parse_server_slots(body);
  ASSERT_EQ(slots.size(), 4u);
  for (uint32_t i = 0; i < slots.size(); ++i) {
    EXPECT_EQ(slots[i].id, i);
    EXPECT_FALSE(slots[i].is_processing);
    EXPECT_FALSE(is_slot_processing(body, i));
  }
}

TEST(ServerSlots, ReportsOnlyTheGeneratingSlotAsProcessing) {
  const std::string body = test::read_test_data("slots_busy.json");
  const auto slots = parse_server_slots(body);
  ASSERT_EQ(slots.size(), 4u);
  EXPECT_FALSE(is_slot_processing(body, 0));
  EXPECT_TRUE(is_slot_processing(body, 1));
  EXPECT_FALSE(is_slot_processing(body, 2));
  EXPECT_FALSE(is_slot_processing(body, 3));
}

TEST(ServerSlots, AskingForASlotTheServerDoesNotListIsProtocolError) {
  const std::string body = test::read_test_data("slots_idle.json");
  try {
    (void)is_slot_processing(body, 4);
    ADD_FAILURE() << "no error for slot 4";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    EXPECT_NE(std::string_view(e.what()).find("slot 4 missing"), std::string_view::npos) << e.what();
  }
}

TEST(ServerSlots, ABodyThatIsNotAJsonArrayIsProtocolError) {
  expect_protocol_error("", "not a JSON array");
  expect_protocol_error("{\"id\":0,\"is_processing\":true}", "not a JSON array");
  expect_protocol_error("[{\"id\":0,\"is_processing\":true}", "not a JSON array");
  expect_protocol_error("[] trailing", "not a JSON array");
  expect_protocol_error("null", "not a JSON array");
}

TEST(ServerSlots, SkipsEntriesWithoutAUsableSlotId) {
  const auto slots = parse_server_slots(
      R"([1, "x", null, {}, {"id":"0"}, {"id":-1}, {"id":4294967296}, {"id":1.0}, {"id":18446744073709551615},)"
      R"( {"id":7,"is_processing":true}])");
  ASSERT_EQ(slots.size(), 1u);
  EXPECT_EQ(slots[0].id, 7u);
  EXPECT_TRUE(slots[0].is_processing);
}

TEST(ServerSlots, AMissingOrNonBooleanIsProcessingCountsAsIdle) {
  const std::string_view body = R"([{"id":0},{"id":1,"is_processing":1},{"id":2,"is_processing":"true"}])";
  EXPECT_FALSE(is_slot_processing(body, 0));
  EXPECT_FALSE(is_slot_processing(body, 1));
  EXPECT_FALSE(is_slot_processing(body, 2));
}

TEST(ServerSlots, TheFirstEntryWithAnIdDecides) {
  const std::string_view body = R"([{"id":3,"is_processing":true},{"id":3,"is_processing":false}])";
  EXPECT_TRUE(is_slot_processing(body, 3));
}

TEST(ServerSlots, ABodyLargerThanTheLimitIsProtocolErrorWithoutParsing) {
  // A valid array padded with whitespace: only the size can reject it.
  std::string body = "[";
  body.append(kMaxServerSlotsBodyBytes, ' ');
  body += "]";
  expect_protocol_error(body, "exceeds");
}

TEST(ServerSlots, ADeeplyNestedBodyIsProtocolError) {
  constexpr std::size_t kDepth = 100'000;
  std::string body(kDepth, '[');
  body.append(kDepth, ']');
  expect_protocol_error(body, "not a JSON array");
}

TEST(ServerSlots, NestingUpToTheDepthLimitIsAccepted) {
  // The slot list itself is one level; the entry's extra field fills the remaining levels.
  std::string extra(kMaxServerSlotsDepth - 2, '[');
  extra.append(kMaxServerSlotsDepth - 2, ']');
  const std::string body = "[{\"id\":0,\"is_processing\":true,\"x\":" + extra + "}]";
  EXPECT_TRUE(is_slot_processing(body, 0));
  const std::string deeper = "[{\"id\":0,\"is_processing\":true,\"x\":[" + extra + "]}]";
  expect_protocol_error(deeper, "not a JSON array");
}

}  // namespace
}  // namespace inference::llama_server
