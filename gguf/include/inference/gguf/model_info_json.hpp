// JSON rendering of ModelInfo for `llmctl info/models` and the HTTP API. Pure functions.
#pragma once

#include <boost/json/object.hpp>

#include "inference/gguf/model_discovery.hpp"
#include "inference/model_info.hpp"

namespace inference::gguf {

// Every ModelInfo field under its own name; absent optional values are null.
boost::json::object to_json(const inference::ModelInfo& info);

// {"path": ..., "ok": true, "model": {...}} or {"path": ..., "ok": false, "error": name,
// "reason": message}.
boost::json::object to_json(const DiscoveredModel& model);

}  // namespace inference::gguf
