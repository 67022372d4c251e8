#include "json_body.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/parse_options.hpp>
#include <string>

#include "inference/gateway/api_error.hpp"
#include "request_fields.hpp"

namespace inference::gateway::detail {

namespace json = boost::json;

namespace {
constexpr std::string_view kInvalidJson = "invalid_json";
}  // namespace

json::value parse_json_body(std::string_view body, const RequestLimits& limits, json::storage_ptr storage) {
  if (body.empty()) {
    throw invalid_request("the request body is empty; expected a JSON object", {}, std::string(kInvalidJson));
  }
  json::parse_options options;
  options.max_depth = limits.max_json_depth;
  boost::system::error_code ec;
  json::value document = json::parse(json::string_view(body.data(), body.size()), ec, std::move(storage), options);
  if (ec == json::error::too_deep) {
    throw invalid_request("the request body nests arrays and objects deeper than the limit of " +
                              std::to_string(limits.max_json_depth) + " levels",
                          {}, std::string(kInvalidJson));
  }
  if (ec) throw invalid_request("the request body is not valid JSON: " + ec.message(), {}, std::string(kInvalidJson));
  if (!document.is_object()) refuse("the request body must be a JSON object, got " + describe(document), {});
  return document;
}

}  // namespace inference::gateway::detail
