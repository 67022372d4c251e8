// The `POST /tokenize` and `POST /detokenize` exchanges: text to the model's token ids with each
// token's text piece, and ids back to text. The server tokenises as it does a /completion prompt
// (special tokens written in the text, e.g. "<s>", are parsed as such).
//
// Ownership: plain values. Thread-safety: the functions are pure; safe from any thread.
// Cancellation: not applicable.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "inference/llama_server/completion_request.hpp"

namespace inference::llama_server {

struct TokenPiece {
  TokenId id = 0;
  std::string piece;  // the token's bytes: part of a UTF-8 character for a byte token
};

// {"content":…,"add_special":…,"with_pieces":true}. add_special: what the server puts before a
// prompt (e.g. BOS).
std::string tokenize_request_body(std::string_view text, bool add_special);

// The tokens of the 200 response {"tokens":[{"id":15043,"piece":" Hello"},…]}. A piece that is
// not valid UTF-8 on its own comes as an array of byte values ("piece":[240]); its bytes are
// returned as they are. Throws Error(protocol_error) naming what was wrong when the body is not
// that shape.
std::vector<TokenPiece> parse_tokenize_response(std::string_view body);

// {"tokens":[…]}. The server does not check the ids: the caller must (an id outside the
// vocabulary is an HTTP 500 at best).
std::string detokenize_request_body(std::span<const TokenId> ids);

// The text of the 200 response {"content":"…"}. Throws Error(protocol_error) when the body is not
// that shape.
std::string parse_detokenize_response(std::string_view body);

}  // namespace inference::llama_server
