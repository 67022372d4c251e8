// Typed reads of the fields of a JSON request body, for openai_request.cpp: each checks the JSON
// kind and the range before any conversion and refuses anything else with invalid_request (400)
// naming the field (`param`, e.g. "messages[2].content") and quoting the value it got, shortened
// to one line. Pure functions; safe from any thread.
#pragma once

#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace inference::gateway::detail {

// Throws invalid_request(message, param).
[[noreturn]] void refuse(std::string message, std::string param);

// A short, one-line rendering of a value for error messages: numbers as written, strings quoted
// and cut after 64 bytes (at a character boundary), arrays and objects by their kind.
std::string describe(const boost::json::value& value);
std::string describe(double value);

// The field's value, or nullptr when it is absent or null: OpenAI treats an explicit null as "not
// given", and clients that serialise every optional field send it.
const boost::json::value* field(const boost::json::object& object, std::string_view name);

bool read_bool(const boost::json::value& value, const std::string& param);
const boost::json::string& read_string(const boost::json::value& value, const std::string& param);
// An integer in [min, max]. A double counts only when integral (JSON has one number type).
int64_t read_integer(const boost::json::value& value, const std::string& param, int64_t min, int64_t max);
// Any integer from 0 to 2^64 - 1.
uint64_t read_unsigned(const boost::json::value& value, const std::string& param);
// A finite number in [min, max].
double read_number(const boost::json::value& value, const std::string& param, double min, double max);

// "param[index]".
std::string indexed(std::string_view param, std::size_t index);

}  // namespace inference::gateway::detail
