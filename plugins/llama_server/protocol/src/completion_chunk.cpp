#include "inference/llama_server/completion_chunk.hpp"

#include <array>
#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parser.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <limits>
#include <string>

#include "inference/error.hpp"
#include "server_error_json.hpp"

namespace inference::llama_server {
namespace {

namespace json = boost::json;

// Token chunks are ~150 bytes of JSON and the final chunk ~2 KiB; an arena of this size holds
// either without touching the heap (larger ones, e.g. with many probabilities, spill over).
constexpr std::size_t kArenaBytes = 16 * 1024;
// Scratch space of the JSON parser itself (nesting stack, split strings).
constexpr std::size_t kParserScratchBytes = 2 * 1024;
// How much of an offending payload an error message quotes.
constexpr std::size_t kMaxQuotedPayloadBytes = 200;

class ChunkReader {
 public:
  ChunkReader(const json::object& object, std::string_view payload) : object_(object), payload_(payload) {}

  const json::value* find(std::string_view key) const { return object_.if_contains(key); }

  [[noreturn]] void fail(std::string_view key, std::string_view problem) const {
    throw Error(errc::protocol_error, "llama-server completion chunk: \"" + std::string(key) + "\" " +
                                          std::string(problem) + " in " + quote(payload_));
  }

  static std::string quote(std::string_view payload) {
    std::string text(payload.substr(0, kMaxQuotedPayloadBytes));
    if (payload.size() > kMaxQuotedPayloadBytes) {
      text += "…";
    }
    return text;
  }

  void read_string(std::string_view key, std::string& out, bool required) const {
    const json::value* value = find(key);
    if (value == nullptr) {
      if (required) {
        fail(key, "is missing");
      }
      out.clear();
      return;
    }
    const json::string* text = value->if_string();
    if (text == nullptr) {
      fail(key, "is not a string");
    }
    out.assign(text->data(), text->size());
  }

  bool read_bool(std::string_view key, bool required) const {
    const json::value* value = find(key);
    if (value == nullptr) {
      if (required) {
        fail(key, "is missing");
      }
      return false;
    }
    if (!value->is_bool()) {
      fail(key, "is not a boolean");
    }
    return value->get_bool();
  }

  std::optional<std::int64_t> read_int(std::string_view key) const {
    const json::value* value = find(key);
    if (value == nullptr) {
      return std::nullopt;
    }
    return to_int(*value, key);
  }

  std::int64_t to_int(const json::value& value, std::string_view key) const {
    if (value.is_int64()) {
      return value.get_int64();
    }
    if (value.is_uint64() &&
        value.get_uint64() <= static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return static_cast<std::int64_t>(value.get_uint64());
    }
    fail(key, "is not an integer");
  }

  double to_real(const json::value& value, std::string_view key) const {
    if (value.is_double()) {
      return value.get_double();
    }
    if (value.is_int64()) {
      return static_cast<double>(value.get_int64());
    }
    if (value.is_uint64()) {
      return static_cast<double>(value.get_uint64());
    }
    fail(key, "is not a number");
  }

  TokenId to_token(const json::value& value, std::string_view key) const {
    const std::int64_t id = to_int(value, key);
    if (id < 0 || id > std::numeric_limits<TokenId>::max()) {
      fail(key, "holds a token id out of range");
    }
    return static_cast<TokenId>(id);
  }

 private:
  const json::object& object_;
  std::string_view payload_;
};

void read_tokens(const ChunkReader& reader, std::vector<TokenId>& out) {
  out.clear();
  const json::value* value = reader.find("tokens");
  if (value == nullptr) {
    return;
  }
  const json::array* ids = value->if_array();
  if (ids == nullptr) {
    reader.fail("tokens", "is not an array");
  }
  for (const json::value& id : *ids) {
    out.push_back(reader.to_token(id, "tokens"));
  }
}

void read_timings(const ChunkReader& reader, std::optional<Timings>& out) {
  const json::value* value = reader.find("timings");
  if (value == nullptr) {
    out.reset();
    return;
  }
  const json::object* object = value->if_object();
  if (object == nullptr) {
    reader.fail("timings", "is not an object");
  }
  const auto integer = [&](std::string_view key) -> std::int64_t {
    const json::value* field = object->if_contains(key);
    return field == nullptr ? 0 : reader.to_int(*field, key);
  };
  const auto real = [&](std::string_view key) -> double {
    const json::value* field = object->if_contains(key);
    return field == nullptr ? 0.0 : reader.to_real(*field, key);
  };
  Timings& timings = out.emplace();
  timings.cache_n = integer("cache_n");
  timings.prompt_n = integer("prompt_n");
  timings.prompt_ms = real("prompt_ms");
  timings.prompt_per_second = real("prompt_per_second");
  timings.predicted_n = integer("predicted_n");
  timings.predicted_ms = real("predicted_ms");
  timings.predicted_per_second = real("predicted_per_second");
}

// One {"id":…,"token":…,"logprob":…} (or "prob") entry.
void read_candidate(const ChunkReader& reader, const json::value& value, TokenCandidate& out) {
  constexpr std::string_view key = "completion_probabilities";
  const json::object* object = value.if_object();
  if (object == nullptr) {
    reader.fail(key, "holds an entry that is not an object");
  }
  const json::value* id = object->if_contains("id");
  const json::value* token = object->if_contains("token");
  if (id == nullptr || token == nullptr || !token->is_string()) {
    reader.fail(key, "holds an entry without \"id\" and string \"token\"");
  }
  out.id = reader.to_token(*id, key);
  out.text.assign(token->get_string().data(), token->get_string().size());
  if (const json::value* logprob = object->if_contains("logprob")) {
    out.logprob = reader.to_real(*logprob, key);
  } else if (const json::value* prob = object->if_contains("prob")) {
    out.logprob = std::log(reader.to_real(*prob, key));  // post_sampling_probs sends probabilities
  } else {
    reader.fail(key, "holds an entry without \"logprob\" or \"prob\"");
  }
}

void read_probabilities(const ChunkReader& reader, std::vector<TokenProbabilities>& out) {
  constexpr std::string_view key = "completion_probabilities";
  const json::value* value = reader.find(key);
  if (value == nullptr) {
    out.clear();
    return;
  }
  const json::array* entries = value->if_array();
  if (entries == nullptr) {
    reader.fail(key, "is not an array");
  }
  out.resize(entries->size());
  for (std::size_t i = 0; i < entries->size(); ++i) {
    const json::value& entry = (*entries)[i];
    read_candidate(reader, entry, out[i].chosen);
    const json::object& object = entry.get_object();
    const json::value* top = object.if_contains("top_logprobs");
    if (top == nullptr) {
      top = object.if_contains("top_probs");
    }
    if (top == nullptr) {
      out[i].top.clear();
      continue;
    }
    const json::array* candidates = top->if_array();
    if (candidates == nullptr) {
      reader.fail(key, "has top candidates that are not an array");
    }
    out[i].top.resize(candidates->size());
    for (std::size_t j = 0; j < candidates->size(); ++j) {
      read_candidate(reader, (*candidates)[j], out[i].top[j]);
    }
  }
}

}  // namespace

StopType parse_stop_type(std::string_view text) {
  if (text == "none") {
    return StopType::none;
  }
  if (text == "eos") {
    return StopType::eos;
  }
  if (text == "limit") {
    return StopType::limit;
  }
  if (text == "word") {
    return StopType::word;
  }
  throw Error(errc::protocol_error, "llama-server sent an unknown stop_type \"" + std::string(text) + "\"");
}

struct CompletionChunkParser::Impl {
  Impl() : parser(json::storage_ptr(), json::parse_options(), scratch.data(), scratch.size()) {}

  alignas(std::max_align_t) std::array<unsigned char, kArenaBytes> arena{};
  std::array<unsigned char, kParserScratchBytes> scratch{};
  json::monotonic_resource resource{arena.data(), arena.size()};
  json::parser parser;
  std::string stop_type;  // reused text of "stop_type"
};

CompletionChunkParser::CompletionChunkParser() : impl_(std::make_unique<Impl>()) {}
CompletionChunkParser::~CompletionChunkParser() = default;
CompletionChunkParser::CompletionChunkParser(CompletionChunkParser&&) noexcept = default;
CompletionChunkParser& CompletionChunkParser::operator=(CompletionChunkParser&&) noexcept = default;

void CompletionChunkParser::parse(std::string_view payload, CompletionChunk& out) {
  Impl& impl = *impl_;
  // The previous chunk's value lived in the arena; it is gone, so the arena can be rewound.
  impl.parser.reset(json::storage_ptr());
  impl.resource.release();
  impl.parser.reset(json::storage_ptr(&impl.resource));

  boost::system::error_code ec;
  impl.parser.write(payload.data(), payload.size(), ec);  // the payload is one whole document
  if (ec) {
    throw Error(errc::protocol_error, "llama-server completion chunk is not valid JSON (" + ec.message() +
                                          "): " + ChunkReader::quote(payload));
  }
  const json::value document = impl.parser.release();
  const json::object* object = document.if_object();
  if (object == nullptr) {
    throw Error(errc::protocol_error,
                "llama-server completion chunk is not a JSON object: " + ChunkReader::quote(payload));
  }
  if (const json::value* error = object->if_contains("error")) {
    throw detail::server_error_from_json(*error, 0, "llama-server completion stream");
  }

  const ChunkReader reader(*object, payload);
  reader.read_string("content", out.content, true);
  read_tokens(reader, out.tokens);
  out.stop = reader.read_bool("stop", true);
  reader.read_string("stop_type", impl.stop_type, false);
  out.stop_type = impl.stop_type.empty() ? StopType::none : parse_stop_type(impl.stop_type);
  reader.read_string("stopping_word", out.stopping_word, false);
  out.truncated = reader.read_bool("truncated", false);
  const std::int64_t slot = reader.read_int("id_slot").value_or(-1);
  if (slot < -1 || slot > std::numeric_limits<std::int32_t>::max()) {
    reader.fail("id_slot", "is out of range");
  }
  out.id_slot = static_cast<std::int32_t>(slot);
  out.tokens_predicted = reader.read_int("tokens_predicted").value_or(0);
  out.tokens_evaluated = reader.read_int("tokens_evaluated").value_or(0);
  out.tokens_cached = reader.read_int("tokens_cached");
  read_timings(reader, out.timings);
  read_probabilities(reader, out.probabilities);
}

}  // namespace inference::llama_server
