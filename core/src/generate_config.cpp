#include "inference/generate_config.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <sstream>
#include <string_view>

namespace inference {

namespace {

// "GenerateConfig::top_p must be in [0, 1], got 1.5"
Error out_of_range(std::string_view field, std::string_view range, auto value) {
  std::ostringstream text;
  text << "GenerateConfig::" << field << " must be " << range << ", got " << value;
  return Error(errc::invalid_argument, text.str());
}

bool non_negative(float value) { return std::isfinite(value) && value >= 0.0F; }
bool unit_interval(float value) { return non_negative(value) && value <= 1.0F; }

Error invalid(std::string message) { return Error(errc::invalid_argument, "GenerateConfig::" + std::move(message)); }

bool valid_tool_name(std::string_view name) {
  constexpr std::size_t kMaxToolName = 64;
  if (name.empty() || name.size() > kMaxToolName) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::optional<Error> validate_logit_bias(const GenerateConfig& config) {
  for (const LogitBias& entry : config.logit_bias) {
    if (entry.token < 0) return out_of_range("logit_bias token", ">= 0", entry.token);
    const bool forbids = std::isinf(entry.bias) && entry.bias < 0.0F;
    if (!std::isfinite(entry.bias) && !forbids)
      return out_of_range("logit_bias bias", "finite or -infinity", entry.bias);
  }
  return std::nullopt;
}

std::optional<Error> validate_tools(const GenerateConfig& config) {
  if (config.tools.empty()) {
    if (config.tool_choice == ToolChoice::required || config.tool_choice == ToolChoice::named) {
      return invalid("tool_choice requires tools");
    }
    return std::nullopt;
  }
  if (!config.json_schema.empty() || !config.grammar.empty()) {
    return invalid("tools cannot be combined with json_schema or grammar (the tools constrain the output)");
  }
  std::set<std::string_view> names;
  for (const ToolDefinition& tool : config.tools) {
    if (!valid_tool_name(tool.name)) {
      return invalid("tools: invalid tool name \"" + tool.name + "\" (1-64 of A-Z a-z 0-9 _ -)");
    }
    if (!names.insert(tool.name).second) return invalid("tools: tool \"" + tool.name + "\" is defined twice");
  }
  if (config.tool_choice == ToolChoice::named && !names.contains(config.tool_name)) {
    return invalid("tool_name \"" + config.tool_name + "\" is not one of the tools");
  }
  return std::nullopt;
}

}  // namespace

std::optional<Error> validate(const GenerateConfig& config) {
  if (config.max_tokens && *config.max_tokens < 0) return out_of_range("max_tokens", ">= 0", *config.max_tokens);
  if (config.temperature && !non_negative(*config.temperature)) {
    return out_of_range("temperature", "a finite number >= 0", *config.temperature);
  }
  if (config.top_k && *config.top_k < 0) return out_of_range("top_k", ">= 0", *config.top_k);
  if (config.top_p && !unit_interval(*config.top_p)) return out_of_range("top_p", "in [0, 1]", *config.top_p);
  if (config.min_p && !unit_interval(*config.min_p)) return out_of_range("min_p", "in [0, 1]", *config.min_p);
  if (config.repeat_penalty && !non_negative(*config.repeat_penalty)) {
    return out_of_range("repeat_penalty", "a finite number >= 0", *config.repeat_penalty);
  }
  if (config.logprobs < 0) return out_of_range("logprobs", ">= 0", config.logprobs);
  if (!config.json_schema.empty() && !config.grammar.empty()) {
    return invalid("json_schema and grammar are exclusive: set one of them");
  }
  if (auto bad = validate_logit_bias(config)) return bad;
  return validate_tools(config);
}

std::optional<Error> validate_for_prompt(const GenerateConfig& config) {
  if (auto invalid = validate(config)) return invalid;
  if (!config.tools.empty()) return Error(errc::invalid_argument, "GenerateConfig::tools apply to chat() only");
  return std::nullopt;
}

}  // namespace inference
