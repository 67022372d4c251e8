// POST /tokenize and POST /detokenize in llama-server's shapes, with a "model" field to pick the
// served model: the request bodies parsed and validated before any work, and the response
// bodies. Pure functions: no I/O, safe from any thread.
//
//   /tokenize    {"model","content","add_special"=false,"with_pieces"=false}
//                -> {"tokens":[15043,…]} or, with_pieces, {"tokens":[{"id":15043,"piece":" Hello"},…]}
//   /detokenize  {"model","tokens":[15043,…]} -> {"content":"…"}
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "inference/gateway/request_limits.hpp"
#include "inference/types.hpp"

namespace inference::gateway {

struct TokenizeRequest {
  std::string model;
  std::string content;  // may be empty (no tokens, or only the special ones)
  bool add_special = false;
  bool with_pieces = false;
};

struct DetokenizeRequest {
  std::string model;
  std::vector<int32_t> tokens;  // each 0 .. 2^31-1; the model refuses ids outside its vocabulary
};

// Throw ApiError (400 invalid_request_error naming the field) for anything else.
TokenizeRequest parse_tokenize_request(std::string_view body, const RequestLimits& limits);
DetokenizeRequest parse_detokenize_request(std::string_view body, const RequestLimits& limits);

std::string tokenize_response(const std::vector<Token>& tokens, bool with_pieces);
std::string detokenize_response(const std::string& content);

}  // namespace inference::gateway
