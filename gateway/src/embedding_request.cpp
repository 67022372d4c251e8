#include "inference/gateway/embedding_request.hpp"

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cstring>

#include "json_body.hpp"
#include "request_fields.hpp"

namespace inference::gateway {

namespace json = boost::json;
using detail::field;
using detail::refuse;

namespace {

std::vector<std::string> read_inputs(const json::object& fields) {
  const json::value* input = field(fields, "input");
  if (input == nullptr) refuse("input is required: a string or an array of strings", "input");
  std::vector<std::string> inputs;
  if (input->is_string()) {
    inputs.emplace_back(input->get_string());
  } else if (input->is_array()) {
    const json::array& list = input->get_array();
    if (list.empty()) refuse("input must not be an empty array", "input");
    if (list.size() > kMaxEmbeddingInputs) {
      refuse("input has " + std::to_string(list.size()) + " items; at most " + std::to_string(kMaxEmbeddingInputs),
             "input");
    }
    for (std::size_t i = 0; i < list.size(); ++i) {
      const std::string param = detail::indexed("input", i);
      if (list[i].is_number() || list[i].is_array()) {
        refuse("input as token ids is not supported here: send the text (POST /tokenize gives a model's ids)", param);
      }
      inputs.emplace_back(detail::read_string(list[i], param));
    }
  } else {
    refuse("input must be a string or an array of strings, got " + detail::describe(*input), "input");
  }
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    if (inputs[i].empty()) {
      refuse("input must not be empty", input->is_array() ? detail::indexed("input", i) : std::string("input"));
    }
  }
  return inputs;
}

constexpr std::string_view kBase64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The vector's float32 bytes (little-endian, as on every platform this builds for), base64.
std::string base64_of(const std::vector<float>& values) {
  std::string bytes(values.size() * sizeof(float), '\0');
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (std::size_t i = 0; i < bytes.size(); i += 3) {
    const std::size_t left = bytes.size() - i;
    uint32_t chunk = static_cast<uint8_t>(bytes[i]) << 16;
    if (left > 1) chunk |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    if (left > 2) chunk |= static_cast<uint8_t>(bytes[i + 2]);
    out.push_back(kBase64Alphabet[(chunk >> 18) & 63]);
    out.push_back(kBase64Alphabet[(chunk >> 12) & 63]);
    out.push_back(left > 1 ? kBase64Alphabet[(chunk >> 6) & 63] : '=');
    out.push_back(left > 2 ? kBase64Alphabet[chunk & 63] : '=');
  }
  return out;
}

}  // namespace

EmbeddingRequest parse_embedding_request(std::string_view body, const RequestLimits& limits) {
  const json::value document = detail::parse_json_body(body, limits);
  const json::object& fields = document.get_object();
  EmbeddingRequest request;
  const json::value* model = field(fields, "model");
  if (model == nullptr) refuse("model is required", "model");
  request.model = std::string(detail::read_string(*model, "model"));
  request.inputs = read_inputs(fields);
  if (const json::value* format = field(fields, "encoding_format")) {
    const std::string value(detail::read_string(*format, "encoding_format"));
    if (value != "float" && value != "base64") {
      refuse("encoding_format must be \"float\" or \"base64\", got " + detail::describe(*format), "encoding_format");
    }
    request.base64 = value == "base64";
  }
  if (const json::value* dimensions = field(fields, "dimensions")) {
    request.dimensions = detail::read_unsigned(*dimensions, "dimensions");
  }
  return request;
}

std::string embedding_response(const std::vector<Embedding>& embeddings, const std::string& model, bool base64) {
  json::array data;
  data.reserve(embeddings.size());
  uint64_t tokens = 0;
  for (std::size_t i = 0; i < embeddings.size(); ++i) {
    json::object item{{"object", "embedding"}, {"index", i}};
    if (base64) {
      item["embedding"] = base64_of(embeddings[i].values);
    } else {
      json::array values;
      values.reserve(embeddings[i].values.size());
      for (const float value : embeddings[i].values) values.emplace_back(static_cast<double>(value));
      item["embedding"] = std::move(values);
    }
    data.emplace_back(std::move(item));
    tokens += embeddings[i].prompt_tokens;
  }
  return json::serialize(json::object{{"object", "list"},
                                      {"data", std::move(data)},
                                      {"model", model},
                                      {"usage", json::object{{"prompt_tokens", tokens}, {"total_tokens", tokens}}}});
}

}  // namespace inference::gateway
