#include "inference/llama_server/embedding_request.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "inference/error.hpp"
#include "response_object.hpp"

namespace inference::llama_server {

namespace {

// The only element of the array `key` of `object`.
const boost::json::object& single_entry(const boost::json::object& object, std::string_view key,
                                        std::string_view endpoint) {
  const boost::json::value* list = object.if_contains(key);
  if (list == nullptr || !list->is_array() || list->as_array().size() != 1 || !list->as_array()[0].is_object()) {
    throw Error(errc::protocol_error, "llama-server's " + std::string(endpoint) + " response has no \"" +
                                          std::string(key) + "\" array of one object");
  }
  return list->as_array()[0].as_object();
}

}  // namespace

std::string embedding_request_body(std::string_view input) {
  return boost::json::serialize(boost::json::object{{"input", input}});
}

Embedding parse_embedding_response(std::string_view body) {
  constexpr std::string_view kEndpoint = "/v1/embeddings";
  const boost::json::object object = detail::parse_response_object(body, kEndpoint);
  const boost::json::value* vector = single_entry(object, "data", kEndpoint).if_contains("embedding");
  if (vector == nullptr || !vector->is_array()) {
    throw Error(errc::protocol_error, "llama-server's /v1/embeddings response has no \"embedding\" array");
  }
  Embedding out;
  out.values.reserve(vector->as_array().size());
  for (const boost::json::value& value : vector->as_array()) {
    if (!value.is_number()) {
      throw Error(errc::protocol_error, "llama-server's /v1/embeddings response has a non-number in \"embedding\"");
    }
    out.values.push_back(static_cast<float>(value.to_number<double>()));
  }
  const boost::json::value* usage = object.if_contains("usage");
  const boost::json::value* tokens =
      usage && usage->is_object() ? usage->as_object().if_contains("prompt_tokens") : nullptr;
  if (tokens == nullptr || !tokens->is_number()) {
    throw Error(errc::protocol_error, "llama-server's /v1/embeddings response has no usage.prompt_tokens");
  }
  out.prompt_tokens = tokens->to_number<uint64_t>();
  return out;
}

std::string rerank_request_body(std::string_view query, std::string_view document) {
  return boost::json::serialize(boost::json::object{{"query", query}, {"documents", boost::json::array{document}}});
}

double parse_rerank_response(std::string_view body) {
  constexpr std::string_view kEndpoint = "/rerank";
  const boost::json::object object = detail::parse_response_object(body, kEndpoint);
  const boost::json::value* score = single_entry(object, "results", kEndpoint).if_contains("relevance_score");
  if (score == nullptr || !score->is_number()) {
    throw Error(errc::protocol_error, "llama-server's /rerank response has no number \"relevance_score\"");
  }
  return score->to_number<double>();
}

}  // namespace inference::llama_server
