// A typed GGUF metadata value: the 13 value types of the format, arrays nested to any depth
// the reader's limits allow. Plain value type; copyable; safe to share between threads when
// not mutated.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace inference::gguf {

// Value type codes as stored in the file.
enum class ValueType : uint32_t {
  uint8 = 0,
  int8 = 1,
  uint16 = 2,
  int16 = 3,
  uint32 = 4,
  int32 = 5,
  float32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  uint64 = 10,
  int64 = 11,
  float64 = 12,
};

// Number of value type codes defined by the format; codes at or above this are invalid.
inline constexpr uint32_t kValueTypeCount = 13;

// "uint8", "string", "array", ... ; "type_N" for a code out of range.
std::string value_type_name(ValueType type);

class Value;

// An array value: every element has element_type (arrays of arrays are allowed).
struct Array {
  ValueType element_type = ValueType::uint8;
  std::vector<Value> items;

  bool operator==(const Array&) const = default;
};

class Value {
 public:
  // Alternative order matches nothing in the file; use type() for the file's code.
  using Storage = std::variant<uint8_t, int8_t, uint16_t, int16_t, uint32_t, int32_t, float, bool, std::string, Array,
                               uint64_t, int64_t, double>;

  Value() = default;
  Value(uint8_t v) : storage_(v) {}
  Value(int8_t v) : storage_(v) {}
  Value(uint16_t v) : storage_(v) {}
  Value(int16_t v) : storage_(v) {}
  Value(uint32_t v) : storage_(v) {}
  Value(int32_t v) : storage_(v) {}
  Value(float v) : storage_(v) {}
  Value(bool v) : storage_(v) {}
  Value(std::string v) : storage_(std::move(v)) {}
  Value(const char* v) : storage_(std::string(v)) {}
  Value(Array v) : storage_(std::move(v)) {}
  Value(uint64_t v) : storage_(v) {}
  Value(int64_t v) : storage_(v) {}
  Value(double v) : storage_(v) {}

  ValueType type() const noexcept;
  const Storage& storage() const noexcept { return storage_; }

  bool is_string() const noexcept { return std::holds_alternative<std::string>(storage_); }
  bool is_array() const noexcept { return std::holds_alternative<Array>(storage_); }

  // The string, or nullptr for any other type.
  const std::string* as_string() const noexcept { return std::get_if<std::string>(&storage_); }
  // The array, or nullptr for any other type.
  const Array* as_array() const noexcept { return std::get_if<Array>(&storage_); }
  // Any integer type (or bool) that is non-negative, widened; nullopt otherwise.
  std::optional<uint64_t> as_uint() const noexcept;
  // float32 / float64 / any integer, as double; nullopt for strings, arrays.
  std::optional<double> as_double() const noexcept;

  bool operator==(const Value&) const = default;

 private:
  Storage storage_;
};

// Convenience constructor for arrays: make_array(ValueType::string, {"a", "b"}).
Array make_array(ValueType element_type, std::vector<Value> items);

}  // namespace inference::gguf
