// Tests for include/inference/gateway/api_key.hpp
#include "inference/gateway/api_key.hpp"

#include <gtest/gtest.h>

#include <string>

namespace inference::gateway {
namespace {

using namespace std::string_literals;

TEST(ConstantTimeEqual, EqualStringsAreEqual) {
  EXPECT_TRUE(constant_time_equal("sk-secret", "sk-secret"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("a\0b"s, "a\0b"s));
}

TEST(ConstantTimeEqual, ADifferenceAnywhereMakesThemUnequal) {
  EXPECT_FALSE(constant_time_equal("xk-secret", "sk-secret"));
  EXPECT_FALSE(constant_time_equal("sk-secreT", "sk-secret"));
  EXPECT_FALSE(constant_time_equal("sk-sEcret", "sk-secret"));
}

TEST(ConstantTimeEqual, APrefixOrAnExtensionIsUnequal) {
  EXPECT_FALSE(constant_time_equal("sk-sec", "sk-secret"));
  EXPECT_FALSE(constant_time_equal("sk-secret!", "sk-secret"));
  EXPECT_FALSE(constant_time_equal("", "sk-secret"));
  EXPECT_FALSE(constant_time_equal("sk-secret", ""));
  // Bytes past the shorter string are compared against 0: the length must still tell them apart.
  EXPECT_FALSE(constant_time_equal("abc", "abc\0"s));
  EXPECT_FALSE(constant_time_equal("abc\0"s, "abc"));
}

TEST(Authorized, AnythingPassesWhenNoKeyIsConfigured) {
  EXPECT_TRUE(authorized("", ""));
  EXPECT_TRUE(authorized("Bearer whatever", ""));
  EXPECT_TRUE(authorized("garbage", ""));
}

TEST(Authorized, TheBearerSchemeWithTheKeyPasses) {
  EXPECT_TRUE(authorized("Bearer sk-secret", "sk-secret"));
  EXPECT_TRUE(authorized("bearer sk-secret", "sk-secret"));
  EXPECT_TRUE(authorized("BEARER sk-secret", "sk-secret"));
}

TEST(Authorized, AWrongOrMalformedHeaderIsRefused) {
  EXPECT_FALSE(authorized("", "sk-secret"));
  EXPECT_FALSE(authorized("Bearer", "sk-secret"));
  EXPECT_FALSE(authorized("Bearer ", "sk-secret"));
  EXPECT_FALSE(authorized("Bearer sk-wrong", "sk-secret"));
  EXPECT_FALSE(authorized("Bearer sk-secre", "sk-secret"));
  EXPECT_FALSE(authorized("Bearer sk-secret ", "sk-secret"));
  EXPECT_FALSE(authorized("Bearer  sk-secret", "sk-secret"));
  EXPECT_FALSE(authorized("Bearersk-secret", "sk-secret"));
  EXPECT_FALSE(authorized("Basic sk-secret", "sk-secret"));
  EXPECT_FALSE(authorized("sk-secret", "sk-secret"));
  EXPECT_FALSE(authorized("Token sk-secret", "sk-secret"));
}

}  // namespace
}  // namespace inference::gateway
