// Internal: the JSON object of one of llama-server's 200 answers (/tokenize, /detokenize,
// /v1/embeddings, /rerank), or Error(protocol_error) naming the endpoint when the body is not one.
// Shared by the request modules of those endpoints.
#pragma once

#include <boost/json/object.hpp>
#include <string_view>

namespace inference::llama_server::detail {

boost::json::object parse_response_object(std::string_view body, std::string_view endpoint);

}  // namespace inference::llama_server::detail
