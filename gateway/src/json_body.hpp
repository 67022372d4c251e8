// A request body read as one JSON object within the gateway's limits, for the endpoints added
// with issue 15 (embeddings, tokenize, detokenize). Refusals are 400 invalid_request errors: an
// empty body, invalid JSON, nesting deeper than limits.max_json_depth, or not an object.
// Pure function; safe from any thread.
#pragma once

#include <boost/json/object.hpp>
#include <string_view>

#include "inference/gateway/request_limits.hpp"

namespace inference::gateway::detail {

boost::json::object parse_json_body(std::string_view body, const RequestLimits& limits);

}  // namespace inference::gateway::detail
