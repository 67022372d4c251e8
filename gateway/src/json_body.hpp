// A request body read as one JSON object within the gateway's limits, for every endpoint that
// takes one (completions, chat completions, embeddings, tokenize, detokenize). Refusals are 400
// invalid_request errors: an empty body, invalid JSON, nesting deeper than
// limits.max_json_depth, or not an object.
// Pure function; safe from any thread.
#pragma once

#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>
#include <string_view>

#include "inference/gateway/request_limits.hpp"

namespace inference::gateway::detail {

// The parsed body, always an object (in `storage`: e.g. a request's monotonic buffer).
boost::json::value parse_json_body(std::string_view body, const RequestLimits& limits,
                                   boost::json::storage_ptr storage = {});

}  // namespace inference::gateway::detail
