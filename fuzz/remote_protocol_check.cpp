#include "remote_protocol_check.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <string>
#include <string_view>

#include "fuzz_invariant.hpp"
#include "inference/error.hpp"
#include "inference/openai/remote_chunk.hpp"
#include "inference/openai/remote_error.hpp"
#include "inference/openai/remote_url.hpp"

namespace inference::fuzz {
namespace {

namespace json = boost::json;
namespace oa = openai;

// remote_error.cpp quotes a non-JSON body this far (plus nothing else).
constexpr std::size_t kMaxQuotedBodyBytes = 512;
constexpr std::chrono::hours kMaxRetryAfter{24};

// The text the document's first choice carries, as parse_remote_chunk should read it.
std::string expected_text(const json::value& doc, bool chat) {
  const json::value* choices = doc.as_object().if_contains("choices");
  if (choices == nullptr || !choices->is_array() || choices->as_array().empty()) return {};
  const json::object& choice = choices->as_array().front().as_object();
  const json::value* text = nullptr;
  if (chat) {
    const json::value* delta = choice.if_contains("delta");
    text = delta != nullptr ? delta->as_object().if_contains("content") : nullptr;
  } else {
    text = choice.if_contains("text");
  }
  return text != nullptr && text->is_string() ? std::string(text->as_string()) : std::string();
}

void check_chunk(std::string_view body, bool chat) {
  oa::RemoteChunk chunk;
  try {
    chunk = oa::parse_remote_chunk(body, chat, "fuzz");
  } catch (const Error&) {
    return;
  }
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  require(!ec && doc.is_object(), "parse_remote_chunk accepted a body that is not a JSON object");
  require(!chunk.token || *chunk.token == expected_text(doc, chat),
          "parse_remote_chunk: the text is not the document's");
  require(chunk.token || expected_text(doc, chat).empty(), "parse_remote_chunk dropped a non-empty text");
  require(!chunk.usage || doc.as_object().contains("usage"), "parse_remote_chunk: usage without a usage field");
}

// llama-server's native /completion event (protocol=llama-server): an accepted token event
// carries the document's content and its single id; a final event carries no token.
void check_llama_chunk(std::string_view body) {
  oa::RemoteChunk chunk;
  try {
    chunk = oa::parse_llama_completion_chunk(body, "fuzz");
  } catch (const Error&) {
    return;
  }
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  require(!ec && doc.is_object(), "parse_llama_completion_chunk accepted a body that is not a JSON object");
  const json::object& event = doc.as_object();
  const bool stop = event.at("stop").as_bool();
  require(stop == chunk.finish.has_value() && stop != chunk.token.has_value(),
          "parse_llama_completion_chunk: a token and a finish must not come together");
  require(!chunk.token || *chunk.token == event.at("content").as_string(),
          "parse_llama_completion_chunk: the text is not the document's");
  require(!chunk.token_id || *chunk.token_id >= 0, "parse_llama_completion_chunk: a negative token id");
}

void check_refusal(std::string_view body, unsigned status) {
  const oa::RemoteError error = oa::remote_error_from_response(status, body, std::nullopt, "fuzz");
  require(error.code() == make_error_code(oa::code_for_status(status)), "remote_error_from_response: wrong code");
  require(error.status() == status, "remote_error_from_response: the status changed");
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  const bool has_error_object = !ec && doc.is_object() && doc.as_object().contains("error");
  require(has_error_object || error.remote_message().size() <= kMaxQuotedBodyBytes,
          "remote_error_from_response quoted more of a non-JSON body than its bound");
}

void check_retry_after(std::string_view value) {
  const auto now = std::chrono::system_clock::from_time_t(1'700'000'000);
  const auto delay = oa::parse_retry_after(value, now);
  require(!delay || (*delay >= std::chrono::milliseconds(0) && *delay <= kMaxRetryAfter),
          "parse_retry_after: a delay outside [0, 24 h]");
}

void check_url(std::string_view text) {
  try {
    const oa::RemoteUrl url = oa::parse_remote_url(text);
    require(!url.host.empty() && url.port != 0, "parse_remote_url accepted a URL without a host or port");
    require(url.api_root.starts_with('/'), "parse_remote_url: the API root does not start with '/'");
  } catch (const Error& e) {
    require(e.is(errc::invalid_argument), "parse_remote_url threw something other than invalid_argument");
    // The URL is quoted after "base_url="; with user info, never as it was written.
    const std::size_t scheme = text.find("://");
    const std::size_t at = text.find('@');
    const std::string_view message = e.what();
    const std::size_t quoted = message.find("base_url=");
    // ("***" is what redaction writes: a URL whose user info is that already reads redacted.)
    if (scheme != std::string_view::npos && at != std::string_view::npos && at > scheme &&
        text.substr(scheme, at - scheme).find_first_of("/?#", 3) == std::string_view::npos &&
        text.substr(scheme + 3, at - scheme - 3) != "***" && quoted != std::string_view::npos) {
      require(!message.substr(quoted + 9).starts_with(text.substr(0, at + 1)),
              "parse_remote_url quoted the URL's user info in its error");
    }
  }
}

}  // namespace

void check_remote_protocol_input(std::span<const std::uint8_t> input) {
  const std::string_view body(reinterpret_cast<const char*>(input.data()), input.size());
  check_chunk(body, false);
  check_chunk(body, true);
  check_llama_chunk(body);
  const unsigned status = input.empty() ? 500 : 400 + input[0] % 200;
  check_refusal(body, status);
  check_retry_after(body);
  check_url(body);
}

}  // namespace inference::fuzz
