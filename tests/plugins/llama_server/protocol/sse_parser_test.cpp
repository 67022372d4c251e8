#include "inference/llama_server/sse_parser.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "inference/error.hpp"
#include "test_data.hpp"

namespace inference::llama_server {
namespace {

using Kind = SseEvent::Kind;
using Events = std::vector<std::pair<Kind, std::string>>;

void drain(SseParser& parser, Events& events) {
  while (auto event = parser.next()) {
    events.emplace_back(event->kind, std::string(event->payload));
  }
}

// Feeds the stream in pieces of the given sizes (the last size repeats) and returns the events.
Events parse_in_pieces(std::string_view stream, std::size_t piece) {
  SseParser parser;
  Events events;
  for (std::size_t at = 0; at < stream.size(); at += piece) {
    parser.feed(stream.substr(at, piece));
    drain(parser, events);
  }
  parser.finish();
  return events;
}

Events parse_split_at(std::string_view stream, std::size_t split) {
  SseParser parser;
  Events events;
  parser.feed(stream.substr(0, split));
  drain(parser, events);
  parser.feed(stream.substr(split));
  drain(parser, events);
  parser.finish();
  return events;
}

Events parse_whole(std::string_view stream) { return parse_in_pieces(stream, stream.size() + 1); }

std::size_t count_lines_starting_with(std::string_view text, std::string_view prefix) {
  std::size_t count = 0;
  for (std::size_t at = 0; at < text.size();) {
    if (text.substr(at).starts_with(prefix)) {
      ++count;
    }
    const std::size_t end = text.find('\n', at);
    if (end == std::string_view::npos) {
      break;
    }
    at = end + 1;
  }
  return count;
}

std::string with_crlf(std::string_view lf) {
  std::string crlf;
  for (const char c : lf) {
    if (c == '\n') {
      crlf += '\r';
    }
    crlf += c;
  }
  return crlf;
}

std::string with_cr(std::string_view lf) {
  std::string cr(lf);
  for (char& c : cr) {
    if (c == '\n') {
      c = '\r';
    }
  }
  return cr;
}

TEST(SseParser, ParsesACapturedCompletionStreamIntoOneEventPerDataLine) {
  const std::string stream = test::read_test_data("stream_limit.sse");
  const Events events = parse_whole(stream);
  ASSERT_EQ(events.size(), count_lines_starting_with(stream, "data: "));
  for (const auto& [kind, payload] : events) {
    EXPECT_EQ(kind, Kind::data);
    EXPECT_TRUE(payload.starts_with("{\"index\":0,")) << payload;
    EXPECT_TRUE(payload.ends_with("}")) << payload;
  }
  EXPECT_NE(events.back().second.find("\"stop\":true"), std::string::npos);
}

TEST(SseParser, GivesTheSameEventsForEverySplitOfACapturedStream) {
  for (const char* name : {"stream_limit.sse", "stream_probs.sse"}) {
    const std::string stream = test::read_test_data(name);
    const Events expected = parse_whole(stream);
    for (std::size_t split = 0; split <= stream.size(); ++split) {
      ASSERT_EQ(parse_split_at(stream, split), expected) << name << " split at byte " << split;
    }
  }
}

TEST(SseParser, GivesTheSameEventsWhenFedOneByteAtATime) {
  const std::string stream = test::read_test_data("stream_word.sse");
  EXPECT_EQ(parse_in_pieces(stream, 1), parse_whole(stream));
}

TEST(SseParser, AcceptsCrlfLineEndsAtEverySplit) {
  const std::string lf = test::read_test_data("stream_eos.sse");
  const std::string crlf = with_crlf(lf);
  const Events expected = parse_whole(lf);
  ASSERT_FALSE(expected.empty());
  for (std::size_t split = 0; split <= crlf.size(); ++split) {
    ASSERT_EQ(parse_split_at(crlf, split), expected) << "split at byte " << split;
  }
  EXPECT_EQ(parse_in_pieces(crlf, 1), expected);
}

TEST(SseParser, AcceptsLoneCrLineEnds) {
  const std::string lf = test::read_test_data("stream_eos.sse");
  EXPECT_EQ(parse_in_pieces(with_cr(lf), 1), parse_whole(lf));
  EXPECT_EQ(parse_whole(with_cr(lf)), parse_whole(lf));
}

TEST(SseParser, TreatsACrAndAnLfInSeparateFeedsAsOneLineEnd) {
  SseParser parser;
  Events events;
  parser.feed("data: a\r");
  drain(parser, events);
  parser.feed("\n\r");
  drain(parser, events);
  parser.feed("\ndata: b\r\n\r\n");
  drain(parser, events);
  parser.finish();
  EXPECT_EQ(events, (Events{{Kind::data, "a"}, {Kind::data, "b"}}));
}

TEST(SseParser, IgnoresCommentPingsAndUnusedFields) {
  const Events events =
      parse_whole(": ping\n\nevent: message\nid: 7\nretry: 100\ndata: {\"a\":1}\n: another ping\n\nfoo\n\n");
  EXPECT_EQ(events, (Events{{Kind::data, "{\"a\":1}"}}));
}

TEST(SseParser, JoinsMultiLineDataWithNewlines) {
  EXPECT_EQ(parse_whole("data: first\ndata:second\ndata:  third\ndata\n\n"),
            (Events{{Kind::data, "first\nsecond\n third\n"}}));
}

TEST(SseParser, RemovesOnlyOneSpaceAfterTheColon) {
  EXPECT_EQ(parse_whole("data:  x \n\n"), (Events{{Kind::data, " x "}}));
}

TEST(SseParser, RecognisesTheDoneMarker) {
  EXPECT_EQ(parse_whole("data: {}\n\ndata: [DONE]\n\n"), (Events{{Kind::data, "{}"}, {Kind::done, "[DONE]"}}));
  EXPECT_EQ(parse_whole("data: [DONE] \n\n"), (Events{{Kind::data, "[DONE] "}}));
}

TEST(SseParser, SurfacesLegacyErrorLinesAsErrorEvents) {
  const std::string error = R"({"code":500,"message":"boom","type":"server_error"})";
  EXPECT_EQ(parse_whole("data: {\"content\":\"a\"}\n\nerror: " + error + "\n\n"),
            (Events{{Kind::data, "{\"content\":\"a\"}"}, {Kind::error, error}}));
}

TEST(SseParser, PassesDataErrorObjectsThroughAsDataForTheChunkParser) {
  const std::string error = test::read_test_data("error_context_size.json");
  EXPECT_EQ(parse_whole("data: " + error + "\n\n"), (Events{{Kind::data, error}}));
}

TEST(SseParser, PassesInvalidUtf8ThroughAsBytes) {
  const std::string bytes = "\xff\xfe\xc3(\x80 \xe2\x82";
  EXPECT_EQ(parse_in_pieces("data: " + bytes + "\n\n", 1), (Events{{Kind::data, bytes}}));
}

TEST(SseParser, IgnoresBlankLinesWithoutData) {
  EXPECT_EQ(parse_whole("\n\n\r\n\ndata: x\n\n\n\n"), (Events{{Kind::data, "x"}}));
}

TEST(SseParser, RejectsALineLongerThanTheLimitBeforeItEnds) {
  SseParser parser(64);
  parser.feed("data: ");
  try {
    parser.feed(std::string(100, 'x'));
    FAIL() << "expected a protocol error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    EXPECT_NE(std::string(e.what()).find("64 bytes"), std::string::npos) << e.what();
  }
}

// Found by fuzz/sse_parser_fuzz.cpp: a line over the limit was rejected when it arrived in
// pieces but accepted when it ended in the same feed, so the verdict depended on the split.
TEST(SseParser, RejectsALineLongerThanTheLimitWhateverTheSplit) {
  const std::string stream = "event: " + std::string(100, 'x') + "\ndata: y\n\n";
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    SseParser parser(64);
    Events events;
    try {
      parser.feed(stream.substr(0, split));
      drain(parser, events);
      parser.feed(stream.substr(split));
      drain(parser, events);
      ADD_FAILURE() << "no error with the split at byte " << split;
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    }
    EXPECT_TRUE(events.empty()) << "split at byte " << split;
  }
}

// Found while writing fuzz/sse_parser_fuzz.cpp (its drain-every-N-feeds mode covers it): feed()
// counted complete lines that next() had not pulled out yet as part of the unfinished line.
TEST(SseParser, CountsOnlyTheUnfinishedLineAgainstTheLimitWhenFedWithoutDraining) {
  SseParser parser(16);
  parser.feed("data: first\n\n");
  parser.feed("data: second");  // 12 bytes unfinished; 26 with the undrained event before it
  parser.feed("\n\n");
  Events events;
  drain(parser, events);
  parser.finish();
  EXPECT_EQ(events, (Events{{Kind::data, "first"}, {Kind::data, "second"}}));
}

TEST(SseParser, RejectsAnEventWhoseDataLinesTogetherExceedTheLimit) {
  SseParser parser(64);
  const std::string line = "data: " + std::string(40, 'x') + "\n";
  parser.feed(line + line);
  try {
    (void)parser.next();
    FAIL() << "expected a protocol error";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
  }
}

TEST(SseParser, AcceptsManySmallEventsInOneFeedBeyondTheLimit) {
  SseParser parser(64);
  std::string stream;
  for (int i = 0; i < 100; ++i) {
    stream += "data: " + std::to_string(i) + "\n\n";
  }
  parser.feed(stream);
  Events events;
  drain(parser, events);
  EXPECT_EQ(events.size(), 100U);
}

TEST(SseParser, ReportsAStreamTruncatedInsideAnEvent) {
  for (const std::string_view truncated : {"data: {\"a\":1}\n", "data: {\"a\"", "data: x\r"}) {
    SseParser parser;
    Events events;
    parser.feed(truncated);
    drain(parser, events);
    EXPECT_TRUE(events.empty());
    EXPECT_TRUE(parser.has_partial_event()) << truncated;
    try {
      parser.finish();
      FAIL() << "expected a protocol error for " << truncated;
    } catch (const Error& e) {
      EXPECT_TRUE(e.is(errc::protocol_error)) << e.what();
    }
  }
}

TEST(SseParser, ReportsACapturedStreamCutAtAnyPointAsTruncated) {
  const std::string stream = test::read_test_data("stream_limit.sse");
  // Cutting inside an event leaves a partial one; cutting at an event boundary does not.
  for (std::size_t cut = 1; cut < stream.size(); ++cut) {
    SseParser parser;
    Events events;
    parser.feed(stream.substr(0, cut));
    drain(parser, events);
    const bool at_boundary = stream.substr(0, cut).ends_with("\n\n");
    EXPECT_EQ(parser.has_partial_event(), !at_boundary) << "cut at byte " << cut;
  }
}

TEST(SseParser, CanBeResetAndReusedForTheNextStream) {
  SseParser parser;
  parser.feed("data: unfinished");
  parser.reset();
  EXPECT_FALSE(parser.has_partial_event());
  parser.feed("data: next\n\n");
  const auto event = parser.next();
  ASSERT_TRUE(event);
  EXPECT_EQ(event->payload, "next");
}

}  // namespace
}  // namespace inference::llama_server
