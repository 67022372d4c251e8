#include "inference/llama_server/output_ring.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace inference::llama_server {
namespace {

using Lines = std::vector<std::string>;

TEST(OutputRingTest, TailLinesReturnsTheLastLinesOldestFirst) {
  OutputRing ring;
  ring.append("one\ntwo\nthree\nfour\n");
  EXPECT_EQ(ring.tail_lines(2), (Lines{"three", "four"}));
  EXPECT_EQ(ring.tail_lines(10), (Lines{"one", "two", "three", "four"}));
  EXPECT_EQ(ring.tail_text(2), "three\nfour");
}

TEST(OutputRingTest, IncludesAFinalLineWithoutNewline) {
  OutputRing ring;
  ring.append("loading\nfatal: no model");
  EXPECT_EQ(ring.tail_lines(1), (Lines{"fatal: no model"}));
}

TEST(OutputRingTest, StripsCarriageReturnsBeforeNewlines) {
  OutputRing ring;
  ring.append("a\r\nb\r\n");
  EXPECT_EQ(ring.tail_lines(5), (Lines{"a", "b"}));
}

TEST(OutputRingTest, EmptyRingHasNoLines) {
  const OutputRing ring;
  EXPECT_TRUE(ring.tail_lines(3).empty());
  EXPECT_EQ(ring.tail_text(3), "");
}

TEST(OutputRingTest, WrapAroundKeepsTheNewestBytes) {
  OutputRing ring(16);
  ring.append("0123456789\n");  // 11 bytes
  ring.append("abcdefghi\n");   // 10 more: the oldest 5 are dropped
  EXPECT_EQ(ring.size(), 16U);
  EXPECT_EQ(ring.total_bytes(), 21U);
  // "56789\n" is the cut-off remainder of the first line and must not be shown as a line.
  EXPECT_EQ(ring.tail_lines(5), (Lines{"abcdefghi"}));
}

TEST(OutputRingTest, BoundIsNeverExceededWhateverTheWriteSizes) {
  constexpr std::size_t kCapacity = 100;
  OutputRing ring(kCapacity);
  std::string expected_tail;
  for (int i = 0; i < 1000; ++i) {
    const std::string chunk = "line " + std::to_string(i) + (i % 3 == 0 ? "\n" : "");
    ring.append(chunk);
    EXPECT_LE(ring.size(), kCapacity);
  }
  ring.append(std::string(5 * kCapacity, 'x'));  // one write far larger than the ring
  EXPECT_EQ(ring.size(), kCapacity);
  EXPECT_EQ(ring.tail_text(1), std::string(kCapacity, 'x'));
}

TEST(OutputRingTest, SinkReceivesEveryCompleteLineAcrossSplitWrites) {
  Lines seen;
  OutputRing ring(8, [&](std::string_view line) { seen.emplace_back(line); });
  ring.append("hel");
  ring.append("lo wor");
  EXPECT_TRUE(seen.empty());
  ring.append("ld\r\nsecond\nthi");
  // The sink sees whole lines even though the ring (8 bytes) cannot hold them.
  EXPECT_EQ(seen, (Lines{"hello world", "second"}));
  ring.flush_sink();
  EXPECT_EQ(seen, (Lines{"hello world", "second", "thi"}));
}

TEST(OutputRingTest, SinkGetsOverlongLinesInBoundedPieces) {
  std::vector<std::size_t> sizes;
  OutputRing ring(64, [&](std::string_view line) { sizes.push_back(line.size()); });
  ring.append(std::string(OutputRing::kMaxSinkLine + 10, 'y'));
  ring.append("\n");
  EXPECT_EQ(sizes, (std::vector<std::size_t>{OutputRing::kMaxSinkLine, 10}));
}

TEST(OutputRingTest, ASinkThatThrowsLosesItsLineButNotTheRingOrLaterLines) {
  Lines seen;
  OutputRing ring(64, [&](std::string_view line) {
    if (line == "bad") throw std::runtime_error("logger failed");
    seen.emplace_back(line);
  });
  EXPECT_NO_THROW(ring.append("first\nbad\nlast\n"));
  EXPECT_EQ(seen, (Lines{"first", "last"}));
  EXPECT_EQ(ring.tail_text(3), "first\nbad\nlast");
}

}  // namespace
}  // namespace inference::llama_server
