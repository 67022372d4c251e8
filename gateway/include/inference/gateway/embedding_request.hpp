// POST /v1/embeddings in OpenAI's shape: the request body parsed and validated before any work,
// and the response body. Pure functions: no I/O, safe from any thread.
//
// Accepted: model (required); input: a non-empty string, or an array of 1 to kMaxEmbeddingInputs
// non-empty strings (arrays of token ids are refused with a 400: the runtime embeds text);
// encoding_format: "float" (default) or "base64" (each vector's little-endian float32 bytes,
// base64-encoded, as OpenAI's clients decode them); dimensions: accepted only when it equals the
// model's embedding_length (checked by the caller, which knows the model); user: ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "inference/gateway/request_limits.hpp"
#include "inference/types.hpp"

namespace inference::gateway {

// OpenAI's own bound on the inputs of one request.
inline constexpr std::size_t kMaxEmbeddingInputs = 2048;

struct EmbeddingRequest {
  std::string model;
  std::vector<std::string> inputs;
  bool base64 = false;                 // encoding_format "base64"
  std::optional<uint64_t> dimensions;  // as asked; the caller compares it with the model's
};

// Throws ApiError (400 invalid_request_error naming the field) for anything else.
EmbeddingRequest parse_embedding_request(std::string_view body, const RequestLimits& limits);

// {"object":"list","data":[{"object":"embedding","index":i,"embedding":[…] or "base64"}],
//  "model":…,"usage":{"prompt_tokens":N,"total_tokens":N}}
std::string embedding_response(const std::vector<Embedding>& embeddings, const std::string& model, bool base64);

}  // namespace inference::gateway
