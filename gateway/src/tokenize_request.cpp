#include "inference/gateway/tokenize_request.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <limits>

#include "json_body.hpp"
#include "request_fields.hpp"

namespace inference::gateway {

namespace json = boost::json;
using detail::field;
using detail::refuse;

namespace {

std::string read_model(const json::object& fields) {
  const json::value* model = field(fields, "model");
  if (model == nullptr) refuse("model is required", "model");
  return std::string(detail::read_string(*model, "model"));
}

bool read_flag(const json::object& fields, std::string_view name) {
  const json::value* flag = field(fields, name);
  return flag != nullptr && detail::read_bool(*flag, std::string(name));
}

}  // namespace

TokenizeRequest parse_tokenize_request(std::string_view body, const RequestLimits& limits) {
  const json::value document = detail::parse_json_body(body, limits);
  const json::object& fields = document.get_object();
  TokenizeRequest request;
  request.model = read_model(fields);
  const json::value* content = field(fields, "content");
  if (content == nullptr) refuse("content is required: the text to tokenize", "content");
  request.content = std::string(detail::read_string(*content, "content"));
  request.add_special = read_flag(fields, "add_special");
  request.with_pieces = read_flag(fields, "with_pieces");
  return request;
}

DetokenizeRequest parse_detokenize_request(std::string_view body, const RequestLimits& limits) {
  const json::value document = detail::parse_json_body(body, limits);
  const json::object& fields = document.get_object();
  DetokenizeRequest request;
  request.model = read_model(fields);
  const json::value* tokens = field(fields, "tokens");
  if (tokens == nullptr || !tokens->is_array()) refuse("tokens is required: an array of token ids", "tokens");
  request.tokens.reserve(tokens->get_array().size());
  for (std::size_t i = 0; i < tokens->get_array().size(); ++i) {
    request.tokens.push_back(static_cast<int32_t>(detail::read_integer(
        tokens->get_array()[i], detail::indexed("tokens", i), 0, std::numeric_limits<int32_t>::max())));
  }
  return request;
}

std::string tokenize_response(const std::vector<Token>& tokens, bool with_pieces) {
  json::array list;
  list.reserve(tokens.size());
  for (const Token& token : tokens) {
    if (with_pieces) {
      list.emplace_back(json::object{{"id", token.id}, {"piece", token.text}});
    } else {
      list.emplace_back(token.id);
    }
  }
  return json::serialize(json::object{{"tokens", std::move(list)}});
}

std::string detokenize_response(const std::string& content) {
  return json::serialize(json::object{{"content", content}});
}

}  // namespace inference::gateway
