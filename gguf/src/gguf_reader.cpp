#include "inference/gguf/gguf_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <limits>
#include <unordered_map>

#include "byte_source.hpp"
#include "inference/error.hpp"
#include "inference/gguf/tensor_type.hpp"

namespace inference::gguf {
namespace {

// Smallest encodings, used to reject counts the remaining bytes cannot possibly hold.
constexpr uint64_t kStringLengthBytes = 8;
constexpr uint64_t kMinKeyValueBytes = kStringLengthBytes + 4 + 1;        // key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = kStringLengthBytes + 4 + 4 + 8;  // name, n_dims, type, offset
constexpr uint64_t kArrayHeaderBytes = 4 + 8;                             // element type, count

uint64_t min_encoded_size(ValueType type) {
  switch (type) {
    case ValueType::uint8:
    case ValueType::int8:
    case ValueType::boolean:
      return 1;
    case ValueType::uint16:
    case ValueType::int16:
      return 2;
    case ValueType::uint32:
    case ValueType::int32:
    case ValueType::float32:
      return 4;
    case ValueType::uint64:
    case ValueType::int64:
    case ValueType::float64:
      return 8;
    case ValueType::string:
      return kStringLengthBytes;
    case ValueType::array:
      return kArrayHeaderBytes;
  }
  return 1;
}

std::string printable_magic(const std::array<std::byte, 4>& magic) {
  std::string out = "0x";
  for (auto b : magic) out += fmt::format("{:02x}", static_cast<unsigned>(b));
  return out;
}

class Parser {
 public:
  Parser(detail::ByteSource& source, const std::filesystem::path& name, const ReaderLimits& limits)
      : source_(source), name_(name), limits_(limits) {}

  GgufFile parse() {
    GgufFile file;
    file.path = name_;
    file.file_size = source_.size();
    if (file.file_size == 0) {
      fail("empty file (0 bytes), not a GGUF model");
    }
    read_header(file);
    read_metadata(file);
    read_tensor_infos(file);
    place_tensor_data(file);
    file.bytes_read = source_.bytes_read();
    return file;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(errc::invalid_model, name_.string() + ": " + what);
  }

  [[noreturn]] void fail_at(const std::string& what) const {
    fail(fmt::format("{} at byte {} while reading {}", what, source_.position(), where_));
  }

  uint64_t remaining() const { return source_.size() - std::min(source_.size(), source_.position()); }

  void read_exact(std::byte* dst, std::size_t n) {
    const uint64_t start = source_.position();
    if (n > remaining() || !source_.read(dst, n)) {
      fail(fmt::format("truncated at byte {} (needed {} bytes at byte {}) while reading {}", source_.size(), n, start,
                       where_));
    }
  }

  template <class T>
  T read_scalar() {
    std::array<std::byte, sizeof(T)> raw{};
    read_exact(raw.data(), raw.size());
    if constexpr (std::endian::native == std::endian::big) {
      std::reverse(raw.begin(), raw.end());
    }
    return std::bit_cast<T>(raw);
  }

  // A count that must fit the limit and whose elements (each at least min_bytes long) must fit
  // the rest of the file; checked before anything is allocated for them.
  uint64_t read_count(std::string_view what, uint64_t limit, std::string_view limit_name, uint64_t min_bytes) {
    const auto count = read_scalar<uint64_t>();
    if (count > limit) {
      fail(fmt::format("{} {} exceeds the limit of {} (ReaderLimits::{}) while reading {}", what, count, limit,
                       limit_name, where_));
    }
    if (min_bytes > 0 && count > remaining() / min_bytes) {
      fail(fmt::format("{} {} cannot fit in the {} bytes left after byte {} while reading {}", what, count, remaining(),
                       source_.position(), where_));
    }
    return count;
  }

  std::string read_string() {
    const auto length = read_count("string length", limits_.max_string_length, "max_string_length", 1);
    std::string out(length, '\0');
    read_exact(reinterpret_cast<std::byte*>(out.data()), out.size());
    return out;
  }

  ValueType read_type(std::string_view what) {
    const auto code = read_scalar<uint32_t>();
    if (code >= kValueTypeCount) {
      fail(fmt::format("{} code {} out of range (0..{}) while reading {}", what, code, kValueTypeCount - 1, where_));
    }
    return static_cast<ValueType>(code);
  }

  Value read_value(ValueType type, uint32_t depth) {
    switch (type) {
      case ValueType::uint8:
        return read_scalar<uint8_t>();
      case ValueType::int8:
        return read_scalar<int8_t>();
      case ValueType::uint16:
        return read_scalar<uint16_t>();
      case ValueType::int16:
        return read_scalar<int16_t>();
      case ValueType::uint32:
        return read_scalar<uint32_t>();
      case ValueType::int32:
        return read_scalar<int32_t>();
      case ValueType::float32:
        return read_scalar<float>();
      case ValueType::boolean: {
        const auto raw = read_scalar<uint8_t>();
        if (raw > 1) fail_at(fmt::format("bool value {} is neither 0 nor 1", raw));
        return raw == 1;
      }
      case ValueType::string:
        return read_string();
      case ValueType::array:
        return read_array(depth + 1);
      case ValueType::uint64:
        return read_scalar<uint64_t>();
      case ValueType::int64:
        return read_scalar<int64_t>();
      case ValueType::float64:
        return read_scalar<double>();
    }
    fail_at("unreachable value type");
  }

  Array read_array(uint32_t depth) {
    if (depth > limits_.max_array_depth) {
      fail(fmt::format("arrays nested deeper than {} (ReaderLimits::max_array_depth) while reading {}",
                       limits_.max_array_depth, where_));
    }
    Array array;
    array.element_type = read_type("array element type");
    const auto count = read_count("array length", limits_.max_array_elements, "max_array_elements",
                                  min_encoded_size(array.element_type));
    array.items.reserve(count);
    for (uint64_t i = 0; i < count; ++i) {
      array.items.push_back(read_value(array.element_type, depth));
    }
    return array;
  }

  void read_header(GgufFile& file) {
    where_ = "the header";
    std::array<std::byte, 4> magic{};
    read_exact(magic.data(), magic.size());
    if (std::bit_cast<uint32_t>(magic) != std::bit_cast<uint32_t>(std::array<char, 4>{'G', 'G', 'U', 'F'})) {
      fail(fmt::format("wrong magic {} (expected \"GGUF\"); not a GGUF file", printable_magic(magic)));
    }
    file.version = read_scalar<uint32_t>();
    if (file.version < kMinVersion || file.version > kMaxVersion) {
      const uint32_t v = file.version;
      const uint32_t swapped = (v >> 24) | ((v >> 8) & 0xff00U) | ((v << 8) & 0xff0000U) | (v << 24);
      if (swapped >= kMinVersion && swapped <= kMaxVersion) {
        fail(fmt::format("big-endian GGUF (version {}) is not supported", swapped));
      }
      fail(fmt::format("unsupported GGUF version {} (supported: {} to {})", file.version, kMinVersion, kMaxVersion));
    }
    tensor_count_ = read_count("tensor count", limits_.max_tensor_count, "max_tensor_count", 0);
    key_count_ = read_count("key count", limits_.max_key_count, "max_key_count", kMinKeyValueBytes);
    // Checked only now: the tensor infos follow the metadata.
    if (tensor_count_ > remaining() / kMinTensorInfoBytes) {
      fail(fmt::format("tensor count {} cannot fit in the {} bytes left after the header", tensor_count_, remaining()));
    }
  }

  void read_metadata(GgufFile& file) {
    std::unordered_map<std::string, uint64_t> seen;
    file.metadata.reserve(key_count_);
    for (uint64_t i = 0; i < key_count_; ++i) {
      where_ = fmt::format("key {} of {}", i + 1, key_count_);
      auto key = read_string();
      where_ = fmt::format("key {} of {} ('{}')", i + 1, key_count_, key);
      if (auto [it, inserted] = seen.emplace(key, i + 1); !inserted) {
        fail(fmt::format("duplicate key '{}' (keys {} and {})", key, it->second, i + 1));
      }
      const auto type = read_type("value type");
      auto value = read_value(type, 0);
      if (key == kAlignmentKey) {
        file.alignment = check_alignment(value);
      }
      file.metadata.emplace_back(std::move(key), std::move(value));
    }
  }

  uint32_t check_alignment(const Value& value) {
    const auto* alignment = std::get_if<uint32_t>(&value.storage());
    if (alignment == nullptr) {
      fail(fmt::format("{} has type {}, expected uint32", kAlignmentKey, value_type_name(value.type())));
    }
    if (*alignment == 0 || !std::has_single_bit(*alignment) || *alignment > limits_.max_alignment) {
      fail(fmt::format("{} = {} is not a power of two up to {}", kAlignmentKey, *alignment, limits_.max_alignment));
    }
    return *alignment;
  }

  void read_tensor_infos(GgufFile& file) {
    std::unordered_map<std::string, uint64_t> seen;
    file.tensors.reserve(tensor_count_);
    for (uint64_t i = 0; i < tensor_count_; ++i) {
      where_ = fmt::format("tensor {} of {}", i + 1, tensor_count_);
      TensorInfo info;
      info.name = read_string();
      where_ = fmt::format("tensor {} of {} ('{}')", i + 1, tensor_count_, info.name);
      if (auto [it, inserted] = seen.emplace(info.name, i + 1); !inserted) {
        fail(fmt::format("duplicate tensor name '{}' (tensors {} and {})", info.name, it->second, i + 1));
      }
      const auto n_dims = read_scalar<uint32_t>();
      if (n_dims == 0 || n_dims > limits_.max_dimensions) {
        fail_at(fmt::format("dimension count {} outside 1..{} (ReaderLimits::max_dimensions)", n_dims,
                            limits_.max_dimensions));
      }
      info.dims.reserve(n_dims);
      for (uint32_t d = 0; d < n_dims; ++d) {
        const auto dim = read_scalar<int64_t>();
        if (dim < 0) fail_at(fmt::format("negative dimension {}", dim));
        info.dims.push_back(static_cast<uint64_t>(dim));
      }
      info.type = read_scalar<uint32_t>();
      info.size_bytes = tensor_size(info);
      info.offset = read_scalar<uint64_t>();
      if (info.offset % file.alignment != 0) {
        fail_at(fmt::format("data offset {} is not a multiple of the alignment {}", info.offset, file.alignment));
      }
      file.tensors.push_back(std::move(info));
    }
  }

  uint64_t tensor_size(const TensorInfo& info) {
    const auto traits = tensor_type_traits(info.type);
    if (!traits) fail_at(fmt::format("unknown tensor type {}", info.type));
    uint64_t elements = 1;
    for (auto dim : info.dims) {
      if (dim != 0 && elements > std::numeric_limits<uint64_t>::max() / dim) {
        fail_at("element count overflows 64 bits");
      }
      elements *= dim;
    }
    if (info.dims.front() % traits->block_size != 0) {
      fail_at(fmt::format("first dimension {} is not a multiple of the {} block size {}", info.dims.front(),
                          traits->name, traits->block_size));
    }
    const uint64_t blocks = elements / traits->block_size;
    if (blocks > std::numeric_limits<uint64_t>::max() / traits->type_size) {
      fail_at("byte size overflows 64 bits");
    }
    return blocks * traits->type_size;
  }

  void place_tensor_data(GgufFile& file) {
    const uint64_t end_of_infos = source_.position();
    file.data_offset = (end_of_infos + file.alignment - 1) / file.alignment * file.alignment;
    if (file.tensors.empty()) {
      return;
    }
    for (std::size_t i = 0; i < file.tensors.size(); ++i) {
      const auto& tensor = file.tensors[i];
      const uint64_t available = file.file_size - std::min(file.file_size, file.data_offset);
      if (tensor.offset > available || tensor.size_bytes > available - tensor.offset) {
        fail(
            fmt::format("tensor {} of {} ('{}') data at bytes {}+{}..+{} extends beyond the end of the file "
                        "({} bytes)",
                        i + 1, file.tensors.size(), tensor.name, file.data_offset, tensor.offset, tensor.size_bytes,
                        file.file_size));
      }
    }
  }

  detail::ByteSource& source_;
  const std::filesystem::path& name_;
  const ReaderLimits& limits_;
  std::string where_;
  uint64_t tensor_count_ = 0;
  uint64_t key_count_ = 0;
};

}  // namespace

GgufFile read_gguf(const std::filesystem::path& path, const ReaderLimits& limits) {
  detail::FileSource source(path);
  return Parser(source, path, limits).parse();
}

GgufFile parse_gguf(std::span<const std::byte> bytes, const std::filesystem::path& name, const ReaderLimits& limits) {
  detail::MemorySource source(bytes);
  return Parser(source, name, limits).parse();
}

}  // namespace inference::gguf
