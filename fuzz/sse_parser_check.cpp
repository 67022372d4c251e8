#include "sse_parser_check.hpp"

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_invariant.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/sse_parser.hpp"

namespace inference::fuzz {
namespace {

using llama_server::SseEvent;
using llama_server::SseParser;

// Header byte 0 below this is the limit itself minus one (1..128 bytes, the limit paths);
// from it on, the limit grows in steps big enough for real llama-server events (~2.5 KiB).
constexpr std::uint8_t kLargeLimitSelector = 128;
constexpr std::size_t kLargeLimitStep = 64;
constexpr std::size_t kHeaderBytes = 2;
constexpr std::uint8_t kPieceCountMask = 0x0f;
constexpr unsigned kDrainShift = 4;
constexpr std::uint8_t kDrainMask = 0x03;

struct Run {
  std::vector<std::pair<SseEvent::Kind, std::string>> events;
  bool failed = false;  // an inference::Error ended the run (feed, next or finish)
};

struct Plan {
  std::size_t max_event_bytes = SseParser::kDefaultMaxEventBytes;
  std::vector<std::size_t> pieces;  // sizes of consecutive feeds, cycling; empty = one feed
  std::size_t drain_every = 1;      // feeds between two drains
  std::string_view body;
};

Plan decode(std::span<const std::uint8_t> input) {
  Plan plan;
  if (input.size() < kHeaderBytes) {
    plan.body = std::string_view(reinterpret_cast<const char*>(input.data()), input.size());
    return plan;
  }
  const std::uint8_t limit = input[0];
  plan.max_event_bytes = limit < kLargeLimitSelector ? std::size_t{1} + limit
                                                     : std::size_t{1} + (limit - kLargeLimitSelector) * kLargeLimitStep;
  const std::size_t piece_count = std::min<std::size_t>(input[1] & kPieceCountMask, input.size() - kHeaderBytes);
  plan.drain_every = std::size_t{1} + ((input[1] >> kDrainShift) & kDrainMask);
  for (std::size_t i = 0; i < piece_count; ++i) {
    plan.pieces.push_back(std::size_t{1} + input[kHeaderBytes + i]);
  }
  const std::size_t body_at = kHeaderBytes + piece_count;
  plan.body = std::string_view(reinterpret_cast<const char*>(input.data()) + body_at, input.size() - body_at);
  return plan;
}

void check_event(const SseEvent& event, std::size_t max_event_bytes) {
  require(event.payload.size() <= max_event_bytes, "an event payload exceeds max_event_bytes");
  if (event.kind == SseEvent::Kind::done) {
    require(event.payload == "[DONE]", "a done event whose payload is not [DONE]");
  }
  if (event.kind == SseEvent::Kind::data) {
    require(event.payload != "[DONE]", "a data event [DONE] not reported as done");
  }
}

void drain(SseParser& parser, Run& run, std::size_t max_event_bytes) {
  while (auto event = parser.next()) {
    check_event(*event, max_event_bytes);
    run.events.emplace_back(event->kind, std::string(event->payload));
  }
}

void finish(SseParser& parser) {
  const bool partial = parser.has_partial_event();
  try {
    parser.finish();
  } catch (const Error&) {
    require(partial, "finish() failed without a partial event");
    throw;
  }
  require(!partial, "finish() accepted a stream with a partial event");
}

Run parse_whole(SseParser& parser, const Plan& plan) {
  Run run;
  try {
    parser.feed(plan.body);
    drain(parser, run, plan.max_event_bytes);
    finish(parser);
  } catch (const Error&) {
    run.failed = true;
  }
  return run;
}

Run parse_in_pieces(SseParser& parser, const Plan& plan) {
  Run run;
  try {
    std::size_t feeds = 0;
    for (std::size_t at = 0; at < plan.body.size(); ++feeds) {
      const std::size_t size = plan.pieces.empty() ? plan.body.size() : plan.pieces[feeds % plan.pieces.size()];
      parser.feed(plan.body.substr(at, size));
      at += std::min(size, plan.body.size() - at);
      if ((feeds + 1) % plan.drain_every == 0) {
        drain(parser, run, plan.max_event_bytes);
      }
    }
    drain(parser, run, plan.max_event_bytes);
    finish(parser);
  } catch (const Error&) {
    run.failed = true;
  }
  return run;
}

// The parser's documented behaviour, written as plainly as possible over the whole body, so
// that a bug which the split and whole runs share still shows up.
Run parse_by_reference(const Plan& plan) {
  Run run;
  const std::string_view body = plan.body;
  const std::size_t limit = plan.max_event_bytes;
  std::string payload;
  bool has_field = false;
  bool is_error = false;
  std::size_t at = 0;
  while (at < body.size()) {
    const std::size_t end = body.find_first_of("\r\n", at);
    if (end == std::string_view::npos) {
      break;
    }
    const std::string_view line = body.substr(at, end - at);
    at = end + 1;
    if (body[end] == '\r' && at < body.size() && body[at] == '\n') {
      ++at;
    }
    if (line.size() > limit) {
      run.failed = true;
      return run;
    }
    if (line.empty()) {
      if (has_field) {
        payload.pop_back();
        const bool done = !is_error && payload == "[DONE]";
        run.events.emplace_back(is_error ? SseEvent::Kind::error
                                : done   ? SseEvent::Kind::done
                                         : SseEvent::Kind::data,
                                payload);
        payload.clear();
        has_field = false;
        is_error = false;
      }
      continue;
    }
    if (line.front() == ':') {
      continue;
    }
    const std::size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? std::string_view() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') {
      value.remove_prefix(1);
    }
    if (field != "data" && field != "error") {
      continue;
    }
    if (payload.size() + value.size() + 1 > limit) {
      run.failed = true;
      return run;
    }
    payload.append(value);
    payload.push_back('\n');
    has_field = true;
    is_error = is_error || field == "error";
  }
  // The stream ended inside a line (over the limit or not) or inside an event.
  run.failed = at < body.size() || has_field;
  return run;
}

bool is_prefix(const Run& shorter, const Run& longer) {
  return shorter.events.size() <= longer.events.size() &&
         std::equal(shorter.events.begin(), shorter.events.end(), longer.events.begin());
}

}  // namespace

void check_sse_parser_input(std::span<const std::uint8_t> input) {
  const Plan plan = decode(input);

  SseParser whole_parser(plan.max_event_bytes);
  const Run whole = parse_whole(whole_parser, plan);
  SseParser split_parser(plan.max_event_bytes);
  const Run split = parse_in_pieces(split_parser, plan);

  const Run reference = parse_by_reference(plan);
  require(whole.failed == reference.failed, "the parser and the reference model get different verdicts");
  if (!whole.failed) {
    require(whole.events == reference.events, "the parser and the reference model give different events");
  } else {
    require(is_prefix(whole, reference), "the parser gives events the reference model does not");
  }

  require(whole.failed == split.failed, "the body split into pieces and fed whole get different verdicts");
  if (!whole.failed) {
    require(whole.events == split.events, "the body split into pieces and fed whole give different events");
  } else {
    require(is_prefix(whole, split) || is_prefix(split, whole),
            "the body split into pieces and fed whole give different events before the error");
  }

  // A parser is reused for the next stream after reset(); it must not remember this one.
  split_parser.reset();
  require(!split_parser.has_partial_event(), "has_partial_event() after reset()");
  const Run again = parse_whole(split_parser, plan);
  require(again.failed == whole.failed && again.events == whole.events,
          "a reset() parser parses the same body differently");
}

}  // namespace inference::fuzz
