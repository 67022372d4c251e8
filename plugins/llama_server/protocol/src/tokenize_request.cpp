#include "inference/llama_server/tokenize_request.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <limits>

#include "inference/error.hpp"
#include "response_object.hpp"

namespace inference::llama_server {
namespace {

[[noreturn]] void malformed_token(std::size_t index, std::string_view what) {
  throw Error(errc::protocol_error,
              "llama-server's /tokenize response: token " + std::to_string(index) + " " + std::string(what));
}

// A piece as text, or as the byte values of a piece that is not valid UTF-8 by itself.
std::string piece_bytes(const boost::json::value& piece, std::size_t index) {
  if (const boost::json::string* text = piece.if_string()) return std::string(*text);
  const boost::json::array* bytes = piece.if_array();
  if (bytes == nullptr) malformed_token(index, "has a \"piece\" that is neither a string nor an array of bytes");
  std::string out;
  out.reserve(bytes->size());
  for (const boost::json::value& byte : *bytes) {
    if (!byte.is_int64() || byte.as_int64() < 0 || byte.as_int64() > std::numeric_limits<unsigned char>::max()) {
      malformed_token(index, "has a \"piece\" byte that is not in 0..255");
    }
    out.push_back(static_cast<char>(static_cast<unsigned char>(byte.as_int64())));
  }
  return out;
}

}  // namespace

std::string tokenize_request_body(std::string_view text, bool add_special) {
  return boost::json::serialize(
      boost::json::object{{"content", text}, {"add_special", add_special}, {"with_pieces", true}});
}

std::vector<TokenPiece> parse_tokenize_response(std::string_view body) {
  const boost::json::object object = detail::parse_response_object(body, "/tokenize");
  const boost::json::value* tokens = object.if_contains("tokens");
  if (tokens == nullptr || !tokens->is_array()) {
    throw Error(errc::protocol_error, "llama-server's /tokenize response has no \"tokens\" array");
  }
  std::vector<TokenPiece> out;
  out.reserve(tokens->as_array().size());
  for (const boost::json::value& item : tokens->as_array()) {
    const std::size_t index = out.size();
    const boost::json::object* token = item.if_object();
    if (token == nullptr) malformed_token(index, "is not an object with \"id\" and \"piece\"");
    const boost::json::value* id = token->if_contains("id");
    if (id == nullptr || !id->is_int64() || id->as_int64() < 0 ||
        id->as_int64() > std::numeric_limits<TokenId>::max()) {
      malformed_token(index, "has no valid \"id\"");
    }
    const boost::json::value* piece = token->if_contains("piece");
    if (piece == nullptr) malformed_token(index, "has no \"piece\"");
    out.push_back(TokenPiece{static_cast<TokenId>(id->as_int64()), piece_bytes(*piece, index)});
  }
  return out;
}

std::string detokenize_request_body(std::span<const TokenId> ids) {
  boost::json::array tokens;
  tokens.reserve(ids.size());
  for (const TokenId id : ids) tokens.emplace_back(id);
  return boost::json::serialize(boost::json::object{{"tokens", std::move(tokens)}});
}

std::string parse_detokenize_response(std::string_view body) {
  const boost::json::object object = detail::parse_response_object(body, "/detokenize");
  const boost::json::value* content = object.if_contains("content");
  if (content == nullptr || !content->is_string()) {
    throw Error(errc::protocol_error, "llama-server's /detokenize response has no string \"content\"");
  }
  return std::string(content->as_string());
}

}  // namespace inference::llama_server
