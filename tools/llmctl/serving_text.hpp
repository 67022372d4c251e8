// What a loaded model serves (ModelInfo::serving_*: the context per slot, why that one, the
// device), as llmctl prints it: one line of text, or a JSON object whose field names are a stable
// interface. Pure functions; safe from any thread.
#pragma once

#include <boost/json/object.hpp>
#include <string>

#include "inference/model_info.hpp"

namespace llmctl {

// "context 2048 tokens per slot (4 slots): the model's whole training context fits the host (...);
// on CPU"; "context 256 tokens per slot, asked (context_len=256); on CPU". Empty when the backend says nothing
// (serving_context_reason empty).
std::string serving_line(const inference::ModelInfo& info);

// {"context_per_slot": 2048, "context_reason": "...", "device": "CPU"} (0 and "" when unknown).
boost::json::object serving_json(const inference::ModelInfo& info);

}  // namespace llmctl
