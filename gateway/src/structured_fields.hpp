// The OpenAI request fields for structured output and tools, read into GenerateConfig for
// openai_request.cpp: response_format, logit_bias, tools, tool_choice, parallel_tool_calls, and a
// message's tool_calls / tool_call_id. Each refuses what it cannot honour with invalid_request
// (400) naming the field. Pure functions; safe from any thread.
#pragma once

#include <boost/json/object.hpp>
#include <string>

#include "inference/generate_config.hpp"
#include "inference/types.hpp"

namespace inference::gateway::detail {

// {"type":"text"} (nothing), {"type":"json_object"} (json_schema {"type":"object"}), or
// {"type":"json_schema","json_schema":{"name","schema","strict","description"}} (json_schema = schema).
void read_response_format(const boost::json::object& fields, GenerateConfig& config);

// {"<token id>": bias in [-100, 100]}; -100 forbids the token (bias -infinity).
void read_logit_bias(const boost::json::object& fields, GenerateConfig& config);

// tools [{"type":"function","function":{"name","description","parameters","strict"}}],
// tool_choice ("none", "auto", "required" or {"type":"function","function":{"name"}}) and
// parallel_tool_calls. Call after read_response_format: tools and response_format exclude each other.
void read_tools(const boost::json::object& fields, GenerateConfig& config);

// An assistant message's tool_calls [{"id","type":"function","function":{"name","arguments"}}]
// and a tool message's tool_call_id (required for role "tool").
void read_message_tool_fields(const boost::json::object& object, const std::string& param, Message& message);

}  // namespace inference::gateway::detail
