#include "inference/llama_server/server_props.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "inference/error.hpp"
#include "test_data.hpp"

namespace inference::llama_server {
namespace {

void expect_protocol_error(std::string_view body, std::string_view mentions) {
  try {
    (void)parse_server_props(body);
    ADD_FAILURE() << "no error for " << body;
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    EXPECT_NE(std::string_view(e.what()).find(mentions), std::string_view::npos) << e.what();
  }
}

TEST(ServerProps, ReadsSlotsContextBuildAndTemplateFromACapturedAnswer) {
  const ServerProps props = parse_server_props(test::read_test_data("props.json"));
  EXPECT_EQ(props.total_slots, 4u);
  EXPECT_EQ(props.context_per_slot, 4096u);
  EXPECT_EQ(props.build_info, "b11669-Debian");
  EXPECT_TRUE(props.has_chat_template);
}

TEST(ServerProps, ABodyWithoutASlotCountIsProtocolError) {
  expect_protocol_error("[]", "not a JSON object");
  expect_protocol_error("{\"total_slots\":", "not a JSON object");
  expect_protocol_error("{}", "total_slots");
  expect_protocol_error("{\"total_slots\":\"4\"}", "total_slots");
  expect_protocol_error("{\"total_slots\":4.0}", "total_slots");
}

// Found while writing fuzz/server_json_check.cpp, by its invariant that accepted numbers are the
// document's (on a hand-written input; 300 s of fuzzing the old code did not reach it):
// negative or oversized counts were cast to uint32_t and wrapped around.
TEST(ServerProps, ASlotCountOrContextSizeOutsideUint32IsProtocolErrorNotWrappedAround) {
  expect_protocol_error("{\"total_slots\":-1}", "total_slots");
  expect_protocol_error("{\"total_slots\":4294967296}", "total_slots");
  expect_protocol_error("{\"total_slots\":4,\"default_generation_settings\":{\"n_ctx\":-4096}}", "n_ctx");
  expect_protocol_error("{\"total_slots\":4,\"default_generation_settings\":{\"n_ctx\":4294967297}}", "n_ctx");
  const ServerProps largest =
      parse_server_props("{\"total_slots\":4294967295,\"default_generation_settings\":{\"n_ctx\":4294967295}}");
  EXPECT_EQ(largest.total_slots, 4294967295u);
  EXPECT_EQ(largest.context_per_slot, 4294967295u);
}

TEST(ServerProps, AMissingContextSizeMeansUnknown) {
  EXPECT_EQ(parse_server_props("{\"total_slots\":2}").context_per_slot, 0u);
  EXPECT_EQ(
      parse_server_props("{\"total_slots\":2,\"default_generation_settings\":{\"n_ctx\":\"x\"}}").context_per_slot, 0u);
}

TEST(ServerProps, VerifyNamesWhatDiffersFromTheRequest) {
  ServerProps props;
  props.total_slots = 4;
  props.context_per_slot = 4096;
  EXPECT_NO_THROW(verify_server_props(props, 4, 4096));
  EXPECT_NO_THROW(verify_server_props(props, 4, 0));
  try {
    verify_server_props(props, 2, 4096);
    ADD_FAILURE() << "no error for 2 slots";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::child_start_failed)) << e.what();
    EXPECT_NE(std::string(e.what()).find("runs 4 slots, 2 were asked for"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace inference::llama_server
