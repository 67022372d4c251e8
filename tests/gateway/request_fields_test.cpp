// Tests for gateway/src/request_fields.hpp
#include "request_fields.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>
#include <string>

#include "inference/gateway/api_error.hpp"

namespace inference::gateway::detail {
namespace {

namespace json = boost::json;

// The param and message of the refusal `read` throws; a failure when it throws nothing.
template <typename Read>
std::string refusal_of(Read read) {
  try {
    read();
  } catch (const ApiError& error) {
    EXPECT_EQ(error.status(), 400U);
    return error.param() + ": " + error.what();
  }
  ADD_FAILURE() << "accepted";
  return {};
}

TEST(RequestFields, DescribeQuotesStringsShortAndCutsAtACharacterBoundary) {
  EXPECT_EQ(describe(json::value("a\"b\n")), R"("a\"b\n")");
  std::string long_text(63, 'x');
  long_text += "\xC3\xA9 and more";  // the 64-byte cut falls inside the two-byte character
  EXPECT_EQ(describe(json::value(long_text)), "\"" + std::string(63, 'x') + "\"...");
  EXPECT_EQ(describe(json::parse("[1,2]")), "an array of 2 elements");
  EXPECT_EQ(describe(json::parse("[1]")), "an array of 1 element");
  EXPECT_EQ(describe(json::parse("{}")), "an object");
  EXPECT_EQ(describe(json::parse("2.5")), "2.5");
  EXPECT_EQ(describe(json::parse("1e999")), "inf");
}

TEST(RequestFields, FieldTreatsNullAsAbsent) {
  const json::object object = json::parse(R"({"a":null,"b":0})").as_object();
  EXPECT_EQ(field(object, "a"), nullptr);
  EXPECT_EQ(field(object, "missing"), nullptr);
  ASSERT_NE(field(object, "b"), nullptr);
  EXPECT_EQ(field(object, "b")->as_int64(), 0);
}

TEST(RequestFields, ReadIntegerAcceptsIntegralDoublesInRangeOnly) {
  EXPECT_EQ(read_integer(json::parse("7"), "k", 0, 7), 7);
  EXPECT_EQ(read_integer(json::parse("7.0"), "k", 0, 7), 7);
  EXPECT_EQ(read_integer(json::parse("-2"), "k", -2, 7), -2);
  EXPECT_EQ(refusal_of([] { read_integer(json::parse("8"), "k", 0, 7); }),
            "k: k must be an integer from 0 to 7, got 8");
  EXPECT_EQ(refusal_of([] { read_integer(json::parse("6.5"), "k", 0, 7); }),
            "k: k must be an integer from 0 to 7, got 6.5");
  EXPECT_EQ(refusal_of([] { read_integer(json::parse("1e999"), "k", 0, 7); }),
            "k: k must be an integer from 0 to 7, got inf");
  EXPECT_EQ(refusal_of([] { read_integer(json::parse("9223372036854775808"), "k", 0, 7); }),
            "k: k must be an integer from 0 to 7, got 9223372036854775808");
}

TEST(RequestFields, ReadUnsignedCoversTheWholeUint64RangeAndNothingMore) {
  EXPECT_EQ(read_unsigned(json::parse("0"), "seed"), 0U);
  EXPECT_EQ(read_unsigned(json::parse("18446744073709551615"), "seed"), 18446744073709551615U);
  EXPECT_EQ(read_unsigned(json::parse("1.8e19"), "seed"), 18000000000000000000U);
  EXPECT_NE(refusal_of([] { read_unsigned(json::parse("2e19"), "seed"); }), "");  // above 2^64
  EXPECT_NE(refusal_of([] { read_unsigned(json::parse("-1"), "seed"); }), "");
  EXPECT_NE(refusal_of([] { read_unsigned(json::parse("\"1\""), "seed"); }), "");
}

TEST(RequestFields, ReadNumberRefusesOutOfRangeAndNonNumbers) {
  EXPECT_EQ(read_number(json::parse("2"), "t", 0.0, 2.0), 2.0);
  EXPECT_EQ(read_number(json::parse("0.5"), "t", 0.0, 2.0), 0.5);
  EXPECT_EQ(refusal_of([] { read_number(json::parse("-1e999"), "t", 0.0, 2.0); }),
            "t: t must be a number from 0 to 2, got -inf");
  EXPECT_EQ(refusal_of([] { read_number(json::parse("true"), "t", 0.0, 2.0); }),
            "t: t must be a number from 0 to 2, got true");
}

TEST(RequestFields, ReadBoolAndReadStringNameTheField) {
  EXPECT_TRUE(read_bool(json::parse("true"), "s"));
  EXPECT_EQ(refusal_of([] { read_bool(json::parse("1"), "s"); }), "s: s must be true or false, got 1");
  EXPECT_EQ(read_string(json::parse(R"("x")"), "u"), "x");
  EXPECT_EQ(refusal_of([] { read_string(json::parse("[]"), "u"); }),
            "u: u must be a string, got an array of 0 elements");
  EXPECT_EQ(indexed("stop", 3), "stop[3]");
}

}  // namespace
}  // namespace inference::gateway::detail
