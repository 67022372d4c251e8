#include "openai_request_check.hpp"

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_invariant.hpp"
#include "inference/gateway/api_error.hpp"
#include "inference/gateway/api_key.hpp"
#include "inference/gateway/openai_request.hpp"
#include "inference/gateway/openai_response.hpp"

namespace inference::fuzz {
namespace {

namespace json = boost::json;
namespace gw = inference::gateway;

constexpr std::string_view kApiKey = "sk-fuzz-0123456789";
constexpr std::string_view kBearer = "bearer ";

gw::RequestLimits tight_limits() {
  gw::RequestLimits limits;
  limits.max_json_depth = 4;
  limits.max_messages = 2;
  limits.max_tokens = 16;
  limits.max_stop_strings = 2;
  limits.max_top_logprobs = 3;
  return limits;
}

bool is_json_object(const std::string& text) {
  json::error_code ec;
  const json::value value = json::parse(text, ec);
  return !ec && value.is_object();
}

void check_refusal(const gw::ApiError& error) {
  require(error.status() == 400, "a body was refused with a status other than 400: " + error.code());
  require(error.type() == "invalid_request_error", "a refused body is not an invalid_request_error");
  require(error.code() == "invalid_argument" || error.code() == "invalid_json",
          "a refused body has an unexpected code: " + error.code());
  const std::string_view message = error.what();
  require(!message.empty() && message.find('\n') == std::string_view::npos, "a refusal's message is not one line");
  require(is_json_object(gw::error_body(error)), "error_body is not a JSON object");
}

void check_accepted(const gw::CompletionRequest& request, gw::Endpoint endpoint, const gw::RequestLimits& limits) {
  require(!validate(request.config).has_value(), "an accepted request fails inference::validate");
  require(request.endpoint == endpoint, "the request's endpoint is not the one parsed for");
  require(!request.model.empty(), "an accepted request has no model");
  const GenerateConfig& config = request.config;
  require(!config.max_tokens || (*config.max_tokens >= 0 && *config.max_tokens <= limits.max_tokens),
          "max_tokens beyond the limit was accepted");
  if (endpoint == gw::Endpoint::chat_completions) {
    require(!request.messages.empty() && request.messages.size() <= limits.max_messages,
            "a chat request with no messages or more than the limit");
  } else {
    require(request.messages.empty(), "a completions request with messages");
  }
  for (const Message& message : request.messages) {
    require(message.role == "system" || message.role == "user" || message.role == "assistant" || message.role == "tool",
            "a message with the role " + message.role);
  }
  require(config.stop.size() <= limits.max_stop_strings, "more stop strings than the limit");
  require(std::none_of(config.stop.begin(), config.stop.end(), [](const std::string& s) { return s.empty(); }),
          "an empty stop string");
  require(request.top_logprobs >= 0 && request.top_logprobs <= limits.max_top_logprobs,
          "top_logprobs beyond the limit");
  require(config.logprobs == (request.logprobs ? std::max(request.top_logprobs, 1) : 0),
          "config.logprobs is not max(top_logprobs, 1) when logprobs are asked for, 0 otherwise");
  require(!request.include_usage || request.stream, "include_usage without stream");
}

bool same_request(const gw::CompletionRequest& a, const gw::CompletionRequest& b) {
  const auto same_messages =
      std::equal(a.messages.begin(), a.messages.end(), b.messages.begin(), b.messages.end(),
                 [](const Message& x, const Message& y) { return x.role == y.role && x.content == y.content; });
  return a.model == b.model && a.prompt == b.prompt && same_messages && a.stream == b.stream &&
         a.include_usage == b.include_usage && a.logprobs == b.logprobs && a.top_logprobs == b.top_logprobs &&
         a.config.max_tokens == b.config.max_tokens && a.config.temperature == b.config.temperature &&
         a.config.top_p == b.config.top_p && a.config.seed == b.config.seed && a.config.stop == b.config.stop &&
         a.config.logprobs == b.config.logprobs && a.config.session == b.config.session;
}

// The writers on this request, with `text` (any bytes) as the token and its alternatives' text.
void check_responses(const gw::CompletionRequest& request, std::string_view text) {
  const gw::ResponseIdentity identity{"cmpl-1", std::string(text.substr(0, 16)), 1};
  Token token;
  token.id = 1;
  token.text = std::string(text);
  token.top = {{1, token.text, 0.5}, {2, token.text, 0.0}, {3, std::string(text.substr(0, 3)), 2.0}};
  const std::vector<Token> tokens{token, token};
  GenerateResult result;
  result.finish_reason = FinishReason::stop;
  for (const std::string& chunk :
       {gw::token_chunk(request, identity, token), gw::tokens_chunk(request, identity, tokens),
        gw::finish_chunk(request, identity, FinishReason::length), gw::usage_chunk(request, identity, {}),
        gw::full_response(request, identity, tokens, result), gw::models_list({{std::string(text), 0}})}) {
    require(is_json_object(chunk), "a response writer produced invalid JSON: " + chunk.substr(0, 200));
  }
  const std::string role = gw::role_chunk(request, identity);
  require(role.empty() == (request.endpoint == gw::Endpoint::completions), "a role chunk for completions");
  require(role.empty() || is_json_object(role), "role_chunk produced invalid JSON");
}

void check_request(gw::Endpoint endpoint, std::string_view body, const gw::RequestLimits& limits) {
  gw::CompletionRequest request;
  try {
    request = gw::parse_completion_request(endpoint, body, limits);
  } catch (const gw::ApiError& error) {
    check_refusal(error);
    bool refused_again = false;
    try {
      (void)gw::parse_completion_request(endpoint, body, limits);
    } catch (const gw::ApiError& again) {
      refused_again = again.param() == error.param() && std::string_view(again.what()) == error.what();
    }
    require(refused_again, "a second parse of a refused body gives a different verdict");
    return;
  }
  check_accepted(request, endpoint, limits);
  require(same_request(request, gw::parse_completion_request(endpoint, body, limits)),
          "a second parse of an accepted body gives a different request");
  // Each request gets streaming, logprobs and usage chunks both with and without logprobs asked.
  check_responses(request, body);
  request.logprobs = !request.logprobs;
  check_responses(request, body);
}

void check_authorization(std::string_view header) {
  require(gw::authorized(header, ""), "with no key configured a header was refused");
  const bool bearer_key =
      header.size() == kBearer.size() + kApiKey.size() &&
      std::equal(kBearer.begin(), kBearer.end(), header.begin(),
                 [](char scheme, char c) { return scheme == (c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c); }) &&
      header.substr(kBearer.size()) == kApiKey;
  require(gw::authorized(header, kApiKey) == bearer_key, "authorized() disagrees with \"Bearer <key>\"");
  require(gw::constant_time_equal(header, kApiKey) == (header == kApiKey), "constant_time_equal disagrees with ==");
  require(gw::constant_time_equal(header, header), "constant_time_equal of a string with itself is false");
}

}  // namespace

void check_openai_request_input(std::span<const std::uint8_t> input) {
  if (input.empty()) {
    return;
  }
  const gw::Endpoint endpoint = (input[0] & 1u) != 0 ? gw::Endpoint::completions : gw::Endpoint::chat_completions;
  const gw::RequestLimits limits = (input[0] & 2u) != 0 ? tight_limits() : gw::RequestLimits();
  const std::string_view body(reinterpret_cast<const char*>(input.data()) + 1, input.size() - 1);
  check_request(endpoint, body, limits);
  check_authorization(body);
}

}  // namespace inference::fuzz
