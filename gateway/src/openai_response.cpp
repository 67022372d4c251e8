#include "inference/gateway/openai_response.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <optional>
#include <span>

namespace inference::gateway {
namespace {

// OpenAI's own logprob for a token outside the alternatives it reports. Used for the chosen token
// when the backend's alternatives do not include it (or a probability is 0 or not a number), so
// the JSON always holds a finite number.
constexpr double kMissingLogprob = -9999.0;
// What one chunk holds besides its texts, and one alternative, for reserving the output once.
constexpr std::size_t kChunkOverheadBytes = 192;
constexpr std::size_t kAlternativeBytes = 64;
// "owned_by" of every listed model: they are served by this program, not by an organisation.
constexpr std::string_view kOwner = "llmctl";
// U+FFFD, written for each byte that does not start a valid UTF-8 sequence: the JSON stays valid
// UTF-8 whatever bytes a backend produced (the exact bytes are in the logprobs' "bytes").
constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";

// The length of the valid UTF-8 sequence at text[i] (RFC 3629: no overlong forms, no surrogates,
// nothing above U+10FFFF), or 0 when the byte does not start one.
std::size_t utf8_sequence_length(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char lead = byte(i);
  std::size_t length = 0;
  unsigned char low = 0x80;  // the range of the second byte, narrower after some leads
  unsigned char high = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    low = lead == 0xE0 ? 0xA0 : 0x80;
    high = lead == 0xED ? 0x9F : 0xBF;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    low = lead == 0xF0 ? 0x90 : 0x80;
    high = lead == 0xF4 ? 0x8F : 0xBF;
  }
  if (length == 0 || i + length > text.size() || byte(i + 1) < low || byte(i + 1) > high) {
    return 0;
  }
  for (std::size_t k = i + 2; k < i + length; ++k) {
    if (byte(k) < 0x80 || byte(k) > 0xBF) {
      return 0;
    }
  }
  return length;
}

// Compact JSON written straight into one string: the chunk shapes are fixed, so the structure is
// literal text and only values are encoded. One pass over each text, no intermediate tree.
class JsonText {
 public:
  explicit JsonText(std::size_t expected_bytes) { out_.reserve(expected_bytes); }

  JsonText& raw(std::string_view text) {
    out_ += text;
    return *this;
  }
  JsonText& string(std::string_view text) {
    out_ += '"';
    escaped(text);
    out_ += '"';
    return *this;
  }
  JsonText& number(int64_t value) { return digits(value); }
  JsonText& number(uint64_t value) { return digits(value); }
  JsonText& real(double value) {
    if (!std::isfinite(value)) {
      return raw("null");  // JSON has no infinities; callers keep their numbers finite
    }
    return digits(value);
  }
  std::string take() { return std::move(out_); }

 private:
  template <typename Number>
  JsonText& digits(Number value) {
    std::array<char, 32> buffer{};
    const auto result = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
    out_.append(buffer.data(), result.ptr);
    return *this;
  }

  void escaped(std::string_view text);

  std::string out_;
};

void JsonText::escaped(std::string_view text) {
  static constexpr std::string_view kHex = "0123456789abcdef";
  std::size_t plain_from = 0;  // runs of bytes that need no escaping are appended at once
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const std::size_t length = utf8_sequence_length(text, i);
      if (length != 0) {
        i += length;
        continue;
      }
    }
    out_.append(text.data() + plain_from, i - plain_from);
    if (c >= 0x80) {
      out_ += kReplacementCharacter;
    } else if (c == '"' || c == '\\') {
      out_ += '\\';
      out_ += static_cast<char>(c);
    } else if (c == '\n') {
      out_ += "\\n";
    } else if (c == '\r') {
      out_ += "\\r";
    } else if (c == '\t') {
      out_ += "\\t";
    } else {
      out_ += "\\u00";
      out_ += kHex[c >> 4];
      out_ += kHex[c & 0xF];
    }
    ++i;  // every escaped or replaced byte is one byte of the input
    plain_from = i;
  }
  out_.append(text.data() + plain_from, text.size() - plain_from);
}

double logprob_of(double probability) {
  if (!(probability > 0.0)) {  // 0, negative or NaN: no finite logarithm
    return kMissingLogprob;
  }
  return probability >= 1.0 ? 0.0 : std::log(probability);
}

// The chosen token's own logprob: the alternative with its id (config.logprobs >= 1 asks the
// backend for at least the most likely one), else kMissingLogprob.
double chosen_logprob(const Token& token) {
  if (token.id >= 0) {
    for (const TokenProbability& alternative : token.top) {
      if (alternative.id == token.id) {
        return logprob_of(alternative.probability);
      }
    }
  }
  return kMissingLogprob;
}

std::size_t alternatives_shown(const CompletionRequest& request, const Token& token) {
  return std::min(token.top.size(), static_cast<std::size_t>(std::max(request.top_logprobs, 0)));
}

void write_bytes(JsonText& json, std::string_view text) {
  json.raw("[");
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i > 0) {
      json.raw(",");
    }
    json.number(static_cast<int64_t>(static_cast<unsigned char>(text[i])));
  }
  json.raw("]");
}

// Chat's logprobs: {"content": [{"token", "logprob", "bytes", "top_logprobs": [...]}, ...]}.
void write_chat_logprobs(JsonText& json, const CompletionRequest& request, std::span<const Token> tokens) {
  json.raw(R"({"content":[)");
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    const Token& token = tokens[t];
    json.raw(t > 0 ? R"(,{"token":)" : R"({"token":)").string(token.text);
    json.raw(R"(,"logprob":)").real(chosen_logprob(token)).raw(R"(,"bytes":)");
    write_bytes(json, token.text);
    json.raw(R"(,"top_logprobs":[)");
    const std::size_t shown = alternatives_shown(request, token);
    for (std::size_t a = 0; a < shown; ++a) {
      const TokenProbability& alternative = token.top[a];
      json.raw(a > 0 ? R"(,{"token":)" : R"({"token":)").string(alternative.text);
      json.raw(R"(,"logprob":)").real(logprob_of(alternative.probability)).raw(R"(,"bytes":)");
      write_bytes(json, alternative.text);
      json.raw("}");
    }
    json.raw("]}");
  }
  json.raw("]}");
}

// Code points in a UTF-8 text (what OpenAI's text_offset counts): bytes that do not continue one.
int64_t code_points(std::string_view text) {
  return std::count_if(text.begin(), text.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0xC0u) != 0x80u; });
}

// The legacy completions logprobs: parallel arrays, top_logprobs as {text: logprob} objects (an
// alternative whose text repeats an earlier one's is left out: object keys must be unique), and
// text_offset in code points from the start of this chunk's (or response's) text.
void write_legacy_logprobs(JsonText& json, const CompletionRequest& request, std::span<const Token> tokens) {
  json.raw(R"({"tokens":[)");
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    json.raw(t > 0 ? "," : "").string(tokens[t].text);
  }
  json.raw(R"(],"token_logprobs":[)");
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    json.raw(t > 0 ? "," : "").real(chosen_logprob(tokens[t]));
  }
  json.raw(R"(],"top_logprobs":[)");
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    json.raw(t > 0 ? ",{" : "{");
    const std::size_t shown = alternatives_shown(request, tokens[t]);
    const auto& top = tokens[t].top;
    bool first = true;
    for (std::size_t a = 0; a < shown; ++a) {
      const auto earlier = top.begin() + static_cast<std::ptrdiff_t>(a);
      if (std::any_of(top.begin(), earlier, [&](const TokenProbability& p) { return p.text == top[a].text; })) {
        continue;
      }
      json.raw(first ? "" : ",").string(top[a].text).raw(":").real(logprob_of(top[a].probability));
      first = false;
    }
    json.raw("}");
  }
  json.raw(R"(],"text_offset":[)");
  int64_t offset = 0;
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    json.raw(t > 0 ? "," : "").number(offset);
    offset += code_points(tokens[t].text);
  }
  json.raw("]}");
}

void write_logprobs(JsonText& json, const CompletionRequest& request, std::span<const Token> tokens) {
  if (!request.logprobs || tokens.empty()) {
    json.raw("null");
  } else if (request.endpoint == Endpoint::chat_completions) {
    write_chat_logprobs(json, request, tokens);
  } else {
    write_legacy_logprobs(json, request, tokens);
  }
}

// {"id", "object", "created", "model", — the fields every chunk and response starts with.
void write_identity(JsonText& json, const ResponseIdentity& identity, std::string_view object) {
  json.raw(R"({"id":)").string(identity.id).raw(R"(,"object":")").raw(object).raw(R"(","created":)");
  json.number(identity.created).raw(R"(,"model":)").string(identity.model);
}

std::string_view chunk_object(const CompletionRequest& request) {
  return request.endpoint == Endpoint::chat_completions ? "chat.completion.chunk" : "text_completion";
}

std::size_t expected_bytes(const CompletionRequest& request, const ResponseIdentity& identity,
                           std::span<const Token> tokens) {
  std::size_t bytes = kChunkOverheadBytes + identity.id.size() + identity.model.size();
  for (const Token& token : tokens) {
    bytes += token.text.size() * (request.logprobs ? 6 : 1);
    if (request.logprobs) {
      bytes += kAlternativeBytes * (alternatives_shown(request, token) + 1);
    }
  }
  return bytes;
}

// The texts of `tokens` as one JSON string ("" for none). One token's text is written as it is;
// several are joined first so that a character split across tokens is validated whole.
void write_text(JsonText& json, std::span<const Token> tokens) {
  if (tokens.size() == 1) {
    json.string(tokens.front().text);
    return;
  }
  std::string joined;
  for (const Token& token : tokens) {
    joined += token.text;
  }
  json.string(joined);
}

void write_finish(JsonText& json, std::optional<FinishReason> finish) {
  json.raw(R"(,"finish_reason":)");
  if (finish) {
    json.raw("\"").raw(finish_reason_name(*finish)).raw("\"");
  } else {
    json.raw("null");
  }
}

enum class Delta { role, content, none };

// One streamed choice chunk: a delta (chat) or a text (completions), its logprobs, its finish.
std::string choice_chunk(const CompletionRequest& request, const ResponseIdentity& identity,
                         std::span<const Token> tokens, Delta delta, std::optional<FinishReason> finish) {
  JsonText json(expected_bytes(request, identity, tokens));
  write_identity(json, identity, chunk_object(request));
  json.raw(R"(,"choices":[{"index":0,)");
  if (request.endpoint == Endpoint::chat_completions) {
    json.raw(R"("delta":{)");
    if (delta == Delta::role) {
      json.raw(R"("role":"assistant","content":"")");
    } else if (delta == Delta::content) {
      json.raw(R"("content":)");
      write_text(json, tokens);
    }
    json.raw("}");
  } else {
    json.raw(R"("text":)");
    write_text(json, tokens);
  }
  json.raw(R"(,"logprobs":)");
  write_logprobs(json, request, tokens);
  write_finish(json, finish);
  json.raw("}]");
  if (request.include_usage) {  // OpenAI: every chunk but the last has "usage": null then
    json.raw(R"(,"usage":null)");
  }
  json.raw("}");
  return json.take();
}

void write_usage(JsonText& json, const GenerateMetrics& metrics) {
  json.raw(R"("usage":{"prompt_tokens":)").number(metrics.prompt_tokens);
  json.raw(R"(,"completion_tokens":)").number(metrics.generated_tokens);
  json.raw(R"(,"total_tokens":)").number(metrics.prompt_tokens + metrics.generated_tokens);
  json.raw(R"(,"prompt_tokens_details":{"cached_tokens":)").number(metrics.cached_prompt_tokens).raw("}}");
}

// message.tool_calls or delta.tool_calls: [{"index"?, "id", "type":"function", "function":{"name","arguments"}}].
void write_tool_calls(JsonText& json, const std::vector<ToolCall>& calls, bool indexed) {
  json.raw(R"("tool_calls":[)");
  for (std::size_t i = 0; i < calls.size(); ++i) {
    json.raw(i > 0 ? ",{" : "{");
    if (indexed) json.raw(R"("index":)").number(static_cast<uint64_t>(i)).raw(",");
    json.raw(R"("id":)").string(calls[i].id).raw(R"(,"type":"function","function":{"name":)").string(calls[i].name);
    json.raw(R"(,"arguments":)").string(calls[i].arguments).raw("}}");
  }
  json.raw("]");
}

// With tools the message is what the envelope meant: the calls (content null), or the words.
void write_tool_message(JsonText& json, const GenerateResult& result) {
  json.raw(R"("message":{"role":"assistant","content":)");
  if (result.tool_calls.empty()) {
    json.string(result.reply);
  } else {
    json.raw("null,");
    write_tool_calls(json, result.tool_calls, false);
  }
  json.raw("}");
}

}  // namespace

std::string_view finish_reason_name(FinishReason reason) noexcept {
  // cancelled and error are not OpenAI reasons: a cancelled stream has no reader, and an error is
  // reported by the gateway as an error, so "stop" only keeps strict clients' parsers whole.
  if (reason == FinishReason::tool_calls) return "tool_calls";
  return reason == FinishReason::length ? "length" : "stop";
}

std::string role_chunk(const CompletionRequest& request, const ResponseIdentity& identity) {
  if (request.endpoint != Endpoint::chat_completions) {
    return {};
  }
  return choice_chunk(request, identity, {}, Delta::role, std::nullopt);
}

std::string token_chunk(const CompletionRequest& request, const ResponseIdentity& identity, const Token& token) {
  return choice_chunk(request, identity, std::span<const Token>(&token, 1), Delta::content, std::nullopt);
}

std::string tokens_chunk(const CompletionRequest& request, const ResponseIdentity& identity,
                         const std::vector<Token>& tokens) {
  return choice_chunk(request, identity, tokens, Delta::content, std::nullopt);
}

std::string tool_reply_chunk(const CompletionRequest& request, const ResponseIdentity& identity,
                             const GenerateResult& result) {
  JsonText json(kChunkOverheadBytes + identity.id.size() + identity.model.size() + result.reply.size());
  write_identity(json, identity, chunk_object(request));
  json.raw(R"(,"choices":[{"index":0,"delta":{)");
  if (result.tool_calls.empty()) {
    json.raw(R"("content":)").string(result.reply);
  } else {
    write_tool_calls(json, result.tool_calls, true);
  }
  json.raw(R"(},"logprobs":null,"finish_reason":null}])");
  if (request.include_usage) json.raw(R"(,"usage":null)");
  json.raw("}");
  return json.take();
}

std::string finish_chunk(const CompletionRequest& request, const ResponseIdentity& identity, FinishReason reason) {
  return choice_chunk(request, identity, {}, Delta::none, reason);
}

std::string usage_chunk(const CompletionRequest& request, const ResponseIdentity& identity,
                        const GenerateMetrics& metrics) {
  JsonText json(kChunkOverheadBytes + identity.id.size() + identity.model.size());
  write_identity(json, identity, chunk_object(request));
  json.raw(R"(,"choices":[],)");
  write_usage(json, metrics);
  json.raw("}");
  return json.take();
}

std::string full_response(const CompletionRequest& request, const ResponseIdentity& identity,
                          const std::vector<Token>& tokens, const GenerateResult& result) {
  const bool chat = request.endpoint == Endpoint::chat_completions;
  JsonText json(expected_bytes(request, identity, tokens));
  write_identity(json, identity, chat ? "chat.completion" : "text_completion");
  json.raw(R"(,"choices":[{"index":0,)");
  if (parses_tool_reply(request)) {
    write_tool_message(json, result);
  } else {
    json.raw(chat ? R"("message":{"role":"assistant","content":)" : R"("text":)");
    write_text(json, tokens);
    json.raw(chat ? "}" : "");
  }
  json.raw(R"(,"logprobs":)");
  write_logprobs(json, request, tokens);
  write_finish(json, result.finish_reason);
  json.raw("}],");
  write_usage(json, result.metrics);
  json.raw("}");
  return json.take();
}

std::string models_list(const std::vector<ModelListing>& models) {
  JsonText json(kChunkOverheadBytes * (models.size() + 1));
  json.raw(R"({"object":"list","data":[)");
  for (std::size_t i = 0; i < models.size(); ++i) {
    json.raw(i > 0 ? R"(,{"id":)" : R"({"id":)").string(models[i].id);
    json.raw(R"(,"object":"model","created":)").number(models[i].created);
    json.raw(R"(,"owned_by":")").raw(kOwner).raw("\"}");
  }
  json.raw("]}");
  return json.take();
}

}  // namespace inference::gateway
