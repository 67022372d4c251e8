// The `POST /v1/embeddings` and `POST /rerank` exchanges of a server started with --embeddings
// (or --reranking): one input per request, so that the engine spreads them over its slots.
//
// /v1/embeddings rather than /embedding: it answers one flat, L2-normalised vector with the
// input's token count (usage.prompt_tokens), while /embedding nests the vector in a list of
// per-token vectors and reports no count. It refuses a server whose pooling is none (one vector
// per token) with a 400, which the engine turns into a clear unsupported error.
//
// Ownership: plain values. Thread-safety: the functions are pure; safe from any thread.
// Cancellation: not applicable.
#pragma once

#include <string>
#include <string_view>

#include "inference/types.hpp"

namespace inference::llama_server {

// {"input":"…"}
std::string embedding_request_body(std::string_view input);

// The vector and the input's token count from the 200 response body
// {"data":[{"embedding":[…],"index":0,"object":"embedding"}],"usage":{"prompt_tokens":N,…},…}.
// Throws Error(protocol_error) naming what was wrong when the body is not that shape.
Embedding parse_embedding_response(std::string_view body);

// {"query":"…","documents":["…"]}: one document, scored against the query.
std::string rerank_request_body(std::string_view query, std::string_view document);

// The one document's score from {"results":[{"index":0,"relevance_score":S}],…}. Throws
// Error(protocol_error) naming what was wrong when the body is not that shape.
double parse_rerank_response(std::string_view body);

}  // namespace inference::llama_server
