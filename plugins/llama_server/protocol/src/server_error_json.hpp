// Internal: reads llama-server's error object ({"code":…,"message":…,"type":…}) from parsed JSON.
// Shared by server_error.cpp (HTTP error bodies) and completion_chunk.cpp (in-stream errors).
#pragma once

#include <boost/json/value.hpp>
#include <string_view>

#include "inference/llama_server/server_error.hpp"

namespace inference::llama_server::detail {

// error is the value of the "error" key. Fields that are missing or of the wrong type are
// left empty (a malformed error must still surface as an error, not as a parse failure);
// fallback_status is used when the object has no numeric "code".
ServerError server_error_from_json(const boost::json::value& error, unsigned fallback_status, std::string_view context);

}  // namespace inference::llama_server::detail
