#include "inference/gguf/gguf_value.hpp"

#include <array>
#include <type_traits>

namespace inference::gguf {
namespace {

constexpr std::array<std::string_view, kValueTypeCount> kValueTypeNames{
    "uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
    "bool",  "string", "array",  "uint64", "int64",  "float64"};

}  // namespace

std::string value_type_name(ValueType type) {
  const auto code = static_cast<uint32_t>(type);
  if (code < kValueTypeCount) {
    return std::string(kValueTypeNames[code]);
  }
  return "type_" + std::to_string(code);
}

ValueType Value::type() const noexcept {
  return std::visit(
      [](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, uint8_t>)
          return ValueType::uint8;
        else if constexpr (std::is_same_v<T, int8_t>)
          return ValueType::int8;
        else if constexpr (std::is_same_v<T, uint16_t>)
          return ValueType::uint16;
        else if constexpr (std::is_same_v<T, int16_t>)
          return ValueType::int16;
        else if constexpr (std::is_same_v<T, uint32_t>)
          return ValueType::uint32;
        else if constexpr (std::is_same_v<T, int32_t>)
          return ValueType::int32;
        else if constexpr (std::is_same_v<T, float>)
          return ValueType::float32;
        else if constexpr (std::is_same_v<T, bool>)
          return ValueType::boolean;
        else if constexpr (std::is_same_v<T, std::string>)
          return ValueType::string;
        else if constexpr (std::is_same_v<T, Array>)
          return ValueType::array;
        else if constexpr (std::is_same_v<T, uint64_t>)
          return ValueType::uint64;
        else if constexpr (std::is_same_v<T, int64_t>)
          return ValueType::int64;
        else
          return ValueType::float64;
      },
      storage_);
}

std::optional<uint64_t> Value::as_uint() const noexcept {
  return std::visit(
      [](const auto& v) -> std::optional<uint64_t> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, bool>) {
          return v ? 1 : 0;
        } else if constexpr (std::is_integral_v<T>) {
          if constexpr (std::is_signed_v<T>) {
            if (v < 0) return std::nullopt;
          }
          return static_cast<uint64_t>(v);
        } else {
          return std::nullopt;
        }
      },
      storage_);
}

std::optional<double> Value::as_double() const noexcept {
  return std::visit(
      [](const auto& v) -> std::optional<double> {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_arithmetic_v<T>) {
          return static_cast<double>(v);
        } else {
          return std::nullopt;
        }
      },
      storage_);
}

Array make_array(ValueType element_type, std::vector<Value> items) { return Array{element_type, std::move(items)}; }

}  // namespace inference::gguf
