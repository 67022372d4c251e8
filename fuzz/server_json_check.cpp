#include "server_json_check.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_invariant.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/completion_chunk.hpp"
#include "inference/llama_server/server_error.hpp"
#include "inference/llama_server/server_props.hpp"
#include "inference/llama_server/server_slots.hpp"

namespace inference::fuzz {
namespace {

namespace json = boost::json;
namespace ls = llama_server;

// A final chunk as the real server sends it (tests/plugins/llama_server/data/stream_probs.sse),
// parsed first so that the input's chunk lands in a parser and a chunk full of old values.
constexpr std::string_view kFinalChunk =
    R"({"index":0,"content":"","tokens":[],"id_slot":3,"stop":true,"model":"m","tokens_predicted":2,)"
    R"("tokens_evaluated":2,"generation_settings":{"n_predict":2},"prompt":"<s> Hello","has_new_line":false,)"
    R"("truncated":true,"stop_type":"word","stopping_word":"x","tokens_cached":3,"timings":{"cache_n":1,)"
    R"("prompt_n":2,"prompt_ms":0.5,"prompt_per_second":4000.0,"predicted_n":2,"predicted_ms":1.5,)"
    R"("predicted_per_second":1333.3},"completion_probabilities":[{"id":7,"token":"a","bytes":[97],)"
    R"("logprob":-0.5,"top_logprobs":[{"id":7,"token":"a","bytes":[97],"logprob":-0.5},{"id":8,)"
    R"("token":"b","bytes":[98],"logprob":-1.5}]}]})";

// The document as Boost.JSON reads it with the parsers' own defaults, for comparing numbers.
json::value reference_document(std::string_view body) {
  boost::system::error_code ec;
  json::value doc = json::parse(body, ec);
  return ec ? json::value() : doc;
}

void check_props(std::string_view body) {
  ls::ServerProps props;
  try {
    props = ls::parse_server_props(body);
  } catch (const Error&) {
    return;
  }
  const json::value doc = reference_document(body);
  require(doc.is_object(), "parse_server_props accepted a body that is not a JSON object");
  const json::value* slots = doc.get_object().if_contains("total_slots");
  require(slots != nullptr && slots->is_int64() && slots->get_int64() == props.total_slots,
          "parse_server_props: total_slots is not the document's number");
  const json::value* settings = doc.get_object().if_contains("default_generation_settings");
  const json::value* n_ctx =
      settings != nullptr && settings->is_object() ? settings->get_object().if_contains("n_ctx") : nullptr;
  if (n_ctx != nullptr && n_ctx->is_int64()) {
    require(n_ctx->get_int64() == props.context_per_slot,
            "parse_server_props: default_generation_settings.n_ctx is not the document's number");
  } else {
    require(props.context_per_slot == 0, "parse_server_props: a context size from nowhere");
  }
}

void check_slots(std::string_view body) {
  std::vector<ls::ServerSlot> slots;
  try {
    slots = ls::parse_server_slots(body);
  } catch (const Error&) {
    bool also_failed = false;
    try {
      (void)ls::is_slot_processing(body, 0);
    } catch (const Error&) {
      also_failed = true;
    }
    require(also_failed, "is_slot_processing accepted a body parse_server_slots rejected");
    return;
  }
  require(body.size() <= ls::kMaxServerSlotsBodyBytes, "parse_server_slots accepted a body over its limit");
  for (const ls::ServerSlot& slot : slots) {
    const auto first =
        std::find_if(slots.begin(), slots.end(), [&](const ls::ServerSlot& s) { return s.id == slot.id; });
    require(ls::is_slot_processing(body, slot.id) == first->is_processing,
            "is_slot_processing disagrees with the first entry of parse_server_slots");
  }
}

bool same_real(double a, double b) { return (std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0; }

bool same_candidate(const ls::TokenCandidate& a, const ls::TokenCandidate& b) {
  return a.id == b.id && a.text == b.text && same_real(a.logprob, b.logprob);
}

bool same_timings(const std::optional<ls::Timings>& a, const std::optional<ls::Timings>& b) {
  if (a.has_value() != b.has_value()) {
    return false;
  }
  return !a ||
         (a->cache_n == b->cache_n && a->prompt_n == b->prompt_n && same_real(a->prompt_ms, b->prompt_ms) &&
          same_real(a->prompt_per_second, b->prompt_per_second) && a->predicted_n == b->predicted_n &&
          same_real(a->predicted_ms, b->predicted_ms) && same_real(a->predicted_per_second, b->predicted_per_second));
}

bool same_chunk(const ls::CompletionChunk& a, const ls::CompletionChunk& b) {
  if (a.content != b.content || a.tokens != b.tokens || a.stop != b.stop || a.stop_type != b.stop_type ||
      a.stopping_word != b.stopping_word || a.truncated != b.truncated || a.id_slot != b.id_slot ||
      a.tokens_predicted != b.tokens_predicted || a.tokens_evaluated != b.tokens_evaluated ||
      a.tokens_cached != b.tokens_cached || !same_timings(a.timings, b.timings) ||
      a.probabilities.size() != b.probabilities.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.probabilities.size(); ++i) {
    const auto& pa = a.probabilities[i];
    const auto& pb = b.probabilities[i];
    if (!same_candidate(pa.chosen, pb.chosen) || pa.top.size() != pb.top.size()) {
      return false;
    }
    for (std::size_t j = 0; j < pa.top.size(); ++j) {
      if (!same_candidate(pa.top[j], pb.top[j])) {
        return false;
      }
    }
  }
  return true;
}

// Parses into chunk; false when the parser rejected the payload with an inference::Error.
bool parse_chunk(ls::CompletionChunkParser& parser, std::string_view payload, ls::CompletionChunk& chunk) {
  try {
    parser.parse(payload, chunk);
    return true;
  } catch (const Error&) {
    return false;
  }
}

void check_chunk(std::string_view payload) {
  ls::CompletionChunkParser fresh_parser;
  ls::CompletionChunk fresh;
  const bool accepted = parse_chunk(fresh_parser, payload, fresh);

  ls::CompletionChunkParser used_parser;
  ls::CompletionChunk used;
  require(parse_chunk(used_parser, kFinalChunk, used), "the captured final chunk was rejected");
  require(parse_chunk(used_parser, payload, used) == accepted, "a used parser gives a different verdict");
  if (accepted) {
    require(same_chunk(fresh, used), "a used parser or chunk gives a different chunk");
    require(fresh.id_slot >= -1, "id_slot below -1");
    require(std::all_of(fresh.tokens.begin(), fresh.tokens.end(), [](ls::TokenId id) { return id >= 0; }),
            "a negative token id");
  }
  // The parser reuses its arena across payloads: the same payload again gives the same chunk.
  ls::CompletionChunk again;
  require(parse_chunk(fresh_parser, payload, again) == accepted, "a second parse gives a different verdict");
  if (accepted) {
    require(same_chunk(fresh, again), "a second parse gives a different chunk");
  }
}

void check_error_body(std::string_view body) {
  constexpr unsigned kStatus = 400;
  const ls::ServerError error = ls::server_error_from_response(kStatus, body, "fuzz");
  require(error.is(errc::child_error), "server_error_from_response gave an error that is not child_error");
  // The status is the error object's code when that is a possible status, else the HTTP one.
  const json::value doc = reference_document(body);
  const json::value* inner = doc.is_object() ? doc.get_object().if_contains("error") : nullptr;
  const json::value* code = inner != nullptr && inner->is_object() ? inner->get_object().if_contains("code") : nullptr;
  const bool code_is_status = code != nullptr && code->is_int64() && code->get_int64() > 0 &&
                              code->get_int64() <= std::numeric_limits<unsigned>::max();
  const std::int64_t expected = code_is_status ? code->get_int64() : std::int64_t{kStatus};
  require(static_cast<std::int64_t>(error.status()) == expected,
          "server_error_from_response: the status is neither a fitting error code nor the HTTP status");
}

}  // namespace

void check_server_json_input(std::span<const std::uint8_t> input) {
  const std::string_view body(reinterpret_cast<const char*>(input.data()), input.size());
  check_props(body);
  check_slots(body);
  check_chunk(body);
  check_error_body(body);
}

}  // namespace inference::fuzz
