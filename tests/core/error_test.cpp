// inference::Error: what() is the one line error.hpp promises, whatever the context holds, and
// the longer evidence (a server's last lines) travels beside it in detail().
#include "inference/error.hpp"

#include <gtest/gtest.h>

#include <string>

namespace inference {
namespace {

TEST(Error, WhatIsContextThenTheCodesMessage) {
  const Error error(errc::model_not_found, "/models/x.gguf");
  EXPECT_STREQ(error.what(), "/models/x.gguf: model file not found");
  EXPECT_EQ(error.context(), "/models/x.gguf");
  EXPECT_TRUE(error.detail().empty());
  EXPECT_STREQ(Error(errc::closed).what(), "model is closed");
}

TEST(Error, DetailIsKeptApartFromTheOneLine) {
  const std::string tail = "load_model: loading\nerror: out of memory\nexiting";
  const Error error(errc::child_start_failed, "llama-server exited with status 1", tail);
  EXPECT_STREQ(error.what(), "llama-server exited with status 1: child process failed to start");
  EXPECT_EQ(error.detail(), tail);
  const Error copy = error;  // as exception_ptr and the plugin proxy copy it
  EXPECT_EQ(copy.detail(), tail);
}

TEST(Error, LineBreaksInTheContextAreFoldedSoWhatStaysOneLine) {
  const Error error(make_error_code(errc::child_error), "HTTP 500: first\nsecond\r\nthird");
  EXPECT_EQ(std::string(error.what()).find_first_of("\r\n"), std::string::npos) << error.what();
  EXPECT_EQ(error.context(), "HTTP 500: first\nsecond\r\nthird") << "the context itself is kept as given";
}

TEST(Error, ConcurrentNextHasAStableName) {
  EXPECT_EQ(error_name(errc::concurrent_next), "concurrent_next");
  EXPECT_NE(make_error_code(errc::concurrent_next).message().find("one reader at a time"), std::string::npos);
}

TEST(Error, UnsupportedAndDeviceLostHaveStableNames) {
  EXPECT_EQ(error_name(errc::unsupported), "unsupported");
  EXPECT_EQ(error_name(errc::device_lost), "device_lost");
  EXPECT_NE(make_error_code(errc::device_lost).message().find("device"), std::string::npos);
}

}  // namespace
}  // namespace inference
