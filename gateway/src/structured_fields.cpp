#include "structured_fields.hpp"

#include <boost/json/serialize.hpp>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <string_view>

#include "request_fields.hpp"

namespace inference::gateway::detail {
namespace {

namespace json = boost::json;

// OpenAI's range for a logit bias; its lower end bans the token.
constexpr double kBiasBound = 100.0;
// Entries of one logit_bias map: far more than a request needs, bounded so one cannot be huge.
constexpr std::size_t kMaxLogitBiasEntries = 1024;
constexpr std::size_t kMaxToolName = 64;

const json::object& read_object(const json::value& value, const std::string& param) {
  if (!value.is_object()) refuse(param + " must be an object, got " + describe(value), param);
  return value.get_object();
}

const json::value& required(const json::object& object, std::string_view name, const std::string& param) {
  const json::value* value = field(object, name);
  if (value == nullptr) refuse(param + " is required", param);
  return *value;
}

// "type": "function", the only kind of tool there is.
void read_function_type(const json::object& object, const std::string& param) {
  const std::string type_param = param + ".type";
  if (read_string(required(object, "type", type_param), type_param) != "function") {
    refuse(type_param + " " + describe(*field(object, "type")) + " is refused: only \"function\" tools exist",
           type_param);
  }
}

std::string read_tool_name(const json::value& value, const std::string& param) {
  const std::string name(read_string(value, param));
  const bool valid =
      !name.empty() && name.size() <= kMaxToolName &&
      name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == std::string::npos;
  if (!valid) refuse(param + " " + describe(value) + " is not a tool name (1-64 of a-z A-Z 0-9 _ -)", param);
  return name;
}

std::string read_schema(const json::value& value, const std::string& param) {
  return json::serialize(read_object(value, param));
}

ToolDefinition read_tool(const json::value& value, const std::string& param) {
  const json::object& tool = read_object(value, param);
  read_function_type(tool, param);
  const std::string function_param = param + ".function";
  const json::object& function = read_object(required(tool, "function", function_param), function_param);
  ToolDefinition definition;
  definition.name = read_tool_name(required(function, "name", function_param + ".name"), function_param + ".name");
  if (const json::value* description = field(function, "description")) {
    definition.description = std::string(read_string(*description, function_param + ".description"));
  }
  if (const json::value* parameters = field(function, "parameters")) {
    definition.parameters = read_schema(*parameters, function_param + ".parameters");
  }
  if (const json::value* strict = field(function, "strict")) {
    read_bool(*strict, function_param + ".strict");  // the arguments always match: the schema constrains them
  }
  return definition;
}

void read_tool_choice(const json::value& choice, GenerateConfig& config) {
  if (choice.is_string()) {
    const json::string& name = choice.get_string();
    if (name == "none") {
      config.tool_choice = ToolChoice::none;
    } else if (name == "auto") {
      config.tool_choice = ToolChoice::automatic;
    } else if (name == "required") {
      config.tool_choice = ToolChoice::required;
    } else {
      refuse("tool_choice " + describe(choice) + " is not one of \"none\", \"auto\", \"required\" or a function",
             "tool_choice");
    }
    return;
  }
  const json::object& object = read_object(choice, "tool_choice");
  read_function_type(object, "tool_choice");
  const json::object& function =
      read_object(required(object, "function", "tool_choice.function"), "tool_choice.function");
  config.tool_choice = ToolChoice::named;
  config.tool_name =
      read_tool_name(required(function, "name", "tool_choice.function.name"), "tool_choice.function.name");
}

void check_tool_choice(const GenerateConfig& config) {
  const bool needs_tools = config.tool_choice == ToolChoice::required || config.tool_choice == ToolChoice::named;
  if (needs_tools && config.tools.empty()) refuse("tool_choice asks for a tool call but tools is empty", "tool_choice");
  if (config.tool_choice != ToolChoice::named) return;
  for (const ToolDefinition& tool : config.tools) {
    if (tool.name == config.tool_name) return;
  }
  refuse("tool_choice.function.name \"" + config.tool_name + "\" is not one of the tools", "tool_choice.function.name");
}

int32_t read_token_id(std::string_view key) {
  int32_t id = -1;
  const auto [end, ec] = std::from_chars(key.data(), key.data() + key.size(), id);
  if (ec != std::errc() || end != key.data() + key.size() || id < 0) {
    refuse("logit_bias key \"" + std::string(key) + "\" is not a token id (a non-negative integer)", "logit_bias");
  }
  return id;
}

ToolCall read_call(const json::value& value, const std::string& param) {
  const json::object& call = read_object(value, param);
  read_function_type(call, param);
  const std::string function_param = param + ".function";
  const json::object& function = read_object(required(call, "function", function_param), function_param);
  ToolCall result;
  result.id = std::string(read_string(required(call, "id", param + ".id"), param + ".id"));
  result.name = read_tool_name(required(function, "name", function_param + ".name"), function_param + ".name");
  result.arguments = std::string(
      read_string(required(function, "arguments", function_param + ".arguments"), function_param + ".arguments"));
  return result;
}

}  // namespace

void read_response_format(const json::object& fields, GenerateConfig& config) {
  const json::value* format = field(fields, "response_format");
  if (format == nullptr) return;
  const json::object& object = read_object(*format, "response_format");
  const json::value& type_value = required(object, "type", "response_format.type");
  const json::string& type = read_string(type_value, "response_format.type");
  if (type == "text") return;
  if (type == "json_object") {
    config.json_schema = R"({"type":"object"})";
    return;
  }
  if (type != "json_schema") {
    refuse("response_format.type " + describe(type_value) + " is not one of \"text\", \"json_object\", \"json_schema\"",
           "response_format.type");
  }
  const json::object& spec =
      read_object(required(object, "json_schema", "response_format.json_schema"), "response_format.json_schema");
  read_string(required(spec, "name", "response_format.json_schema.name"), "response_format.json_schema.name");
  if (const json::value* strict = field(spec, "strict")) read_bool(*strict, "response_format.json_schema.strict");
  const json::value* schema = field(spec, "schema");
  config.json_schema = schema ? read_schema(*schema, "response_format.json_schema.schema") : R"({"type":"object"})";
}

void read_logit_bias(const json::object& fields, GenerateConfig& config) {
  const json::value* bias = field(fields, "logit_bias");
  if (bias == nullptr) return;
  const json::object& map = read_object(*bias, "logit_bias");
  if (map.size() > kMaxLogitBiasEntries) {
    refuse("logit_bias holds " + std::to_string(map.size()) + " entries, more than the limit of " +
               std::to_string(kMaxLogitBiasEntries),
           "logit_bias");
  }
  for (const auto& entry : map) {
    const std::string key(entry.key());
    const double value = read_number(entry.value(), "logit_bias[\"" + key + "\"]", -kBiasBound, kBiasBound);
    const float applied = value <= -kBiasBound ? -std::numeric_limits<float>::infinity() : static_cast<float>(value);
    config.logit_bias.push_back(LogitBias{read_token_id(key), applied});
  }
}

void read_tools(const json::object& fields, GenerateConfig& config) {
  if (const json::value* tools = field(fields, "tools")) {
    if (!tools->is_array()) refuse("tools must be an array of tools, got " + describe(*tools), "tools");
    std::set<std::string> names;
    for (std::size_t i = 0; i < tools->get_array().size(); ++i) {
      ToolDefinition tool = read_tool(tools->get_array()[i], indexed("tools", i));
      if (!names.insert(tool.name).second) {
        refuse("tools defines \"" + tool.name + "\" twice", indexed("tools", i) + ".function.name");
      }
      config.tools.push_back(std::move(tool));
    }
  }
  if (const json::value* choice = field(fields, "tool_choice")) read_tool_choice(*choice, config);
  if (const json::value* parallel = field(fields, "parallel_tool_calls")) {
    config.parallel_tool_calls = read_bool(*parallel, "parallel_tool_calls");
  }
  check_tool_choice(config);
  if (!config.tools.empty() && !config.json_schema.empty()) {
    refuse("response_format cannot be combined with tools: the tools already constrain the output", "response_format");
  }
}

void read_message_tool_fields(const json::object& object, const std::string& param, Message& message) {
  if (const json::value* calls = field(object, "tool_calls")) {
    const std::string calls_param = param + ".tool_calls";
    if (!calls->is_array()) refuse(calls_param + " must be an array, got " + describe(*calls), calls_param);
    if (message.role != "assistant" && !calls->get_array().empty()) {
      refuse(calls_param + " is only allowed in an assistant message", calls_param);
    }
    for (std::size_t i = 0; i < calls->get_array().size(); ++i) {
      message.tool_calls.push_back(read_call(calls->get_array()[i], indexed(calls_param, i)));
    }
  }
  const json::value* id = field(object, "tool_call_id");
  if (message.role == "tool") {
    if (id == nullptr) refuse(param + ".tool_call_id is required in a tool message", param + ".tool_call_id");
    message.tool_call_id = std::string(read_string(*id, param + ".tool_call_id"));
  }
}

}  // namespace inference::gateway::detail
