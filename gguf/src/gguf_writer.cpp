#include "inference/gguf/gguf_writer.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <fstream>
#include <type_traits>

#include "inference/error.hpp"
#include "inference/gguf/tensor_type.hpp"

namespace inference::gguf {
namespace {

class Encoder {
 public:
  template <class T>
  void scalar(T value) {
    auto raw = std::bit_cast<std::array<std::byte, sizeof(T)>>(value);
    if constexpr (std::endian::native == std::endian::big) {
      std::reverse(raw.begin(), raw.end());
    }
    out_.insert(out_.end(), raw.begin(), raw.end());
  }

  void string(const std::string& s) {
    scalar<uint64_t>(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    out_.insert(out_.end(), p, p + s.size());
  }

  void bytes(const std::vector<std::byte>& data) { out_.insert(out_.end(), data.begin(), data.end()); }

  void pad_to(uint64_t alignment) {
    const uint64_t aligned = (out_.size() + alignment - 1) / alignment * alignment;
    out_.resize(aligned, std::byte{0});
  }

  void value(const Value& v) {
    std::visit(
        [this](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, std::string>) {
            string(x);
          } else if constexpr (std::is_same_v<T, Array>) {
            array(x);
          } else if constexpr (std::is_same_v<T, bool>) {
            scalar<uint8_t>(x ? 1 : 0);
          } else {
            scalar<T>(x);
          }
        },
        v.storage());
  }

  void array(const Array& a) {
    scalar<uint32_t>(static_cast<uint32_t>(a.element_type));
    scalar<uint64_t>(a.items.size());
    for (const auto& item : a.items) {
      if (item.type() != a.element_type) {
        throw Error(errc::invalid_argument, "GGUF writer: array of " + value_type_name(a.element_type) + " holds a " +
                                                value_type_name(item.type()));
      }
      value(item);
    }
  }

  uint64_t size() const noexcept { return out_.size(); }
  std::vector<std::byte> take() { return std::move(out_); }

 private:
  std::vector<std::byte> out_;
};

}  // namespace

void GgufBuilder::set(const std::string& key, Value value) {
  auto it = std::find_if(metadata_.begin(), metadata_.end(), [&](const auto& kv) { return kv.first == key; });
  if (it != metadata_.end()) {
    it->second = std::move(value);
  } else {
    metadata_.emplace_back(key, std::move(value));
  }
}

namespace {

// The bytes of a tensor of `type` and `dims`; throws for an invalid type or shape.
uint64_t tensor_data_size(const std::string& name, uint32_t type, const std::vector<uint64_t>& dims) {
  const auto traits = tensor_type_traits(type);
  if (!traits || dims.empty() || dims.front() % traits->block_size != 0) {
    throw Error(errc::invalid_argument, "GGUF writer: tensor '" + name + "' has an invalid type or shape");
  }
  uint64_t elements = 1;
  for (auto d : dims) elements *= d;
  return elements / traits->block_size * traits->type_size;
}

uint64_t padded(uint64_t size, uint64_t alignment) { return (size + alignment - 1) / alignment * alignment; }

}  // namespace

void GgufBuilder::add_tensor(std::string name, uint32_t type, std::vector<uint64_t> dims, std::vector<std::byte> data) {
  const uint64_t expected = tensor_data_size(name, type, dims);
  if (data.size() != expected) {
    throw Error(errc::invalid_argument, "GGUF writer: tensor '" + name + "' needs " + std::to_string(expected) +
                                            " bytes, got " + std::to_string(data.size()));
  }
  tensors_.push_back({std::move(name), type, std::move(dims), std::move(data), expected, false});
}

void GgufBuilder::add_zero_tensor(std::string name, uint32_t type, std::vector<uint64_t> dims) {
  const uint64_t size = tensor_data_size(name, type, dims);
  tensors_.push_back({std::move(name), type, std::move(dims), {}, size, true});
}

uint32_t GgufBuilder::alignment() const {
  for (const auto& [key, value] : metadata_) {
    if (key == kAlignmentKey) {
      if (const auto* a = std::get_if<uint32_t>(&value.storage()); a != nullptr && *a != 0) {
        return *a;
      }
    }
  }
  return kDefaultAlignment;
}

std::vector<std::byte> GgufBuilder::head(const WriteOptions& options) const {
  if (options.version < kMinVersion || options.version > kMaxVersion) {
    throw Error(errc::invalid_argument, "GGUF writer: unsupported version " + std::to_string(options.version));
  }
  const uint32_t align = alignment();
  Encoder out;
  out.scalar<uint32_t>(kMagic);
  out.scalar<uint32_t>(options.version);
  out.scalar<uint64_t>(tensors_.size());
  out.scalar<uint64_t>(metadata_.size());
  for (const auto& [key, value] : metadata_) {
    out.string(key);
    out.scalar<uint32_t>(static_cast<uint32_t>(value.type()));
    out.value(value);
  }
  uint64_t offset = 0;
  for (const auto& tensor : tensors_) {
    out.string(tensor.name);
    out.scalar<uint32_t>(static_cast<uint32_t>(tensor.dims.size()));
    for (auto d : tensor.dims) out.scalar<int64_t>(static_cast<int64_t>(d));
    out.scalar<uint32_t>(tensor.type);
    out.scalar<uint64_t>(offset);
    offset += padded(tensor.size, align);
  }
  if (!tensors_.empty()) {
    out.pad_to(align);
  }
  return out.take();
}

std::vector<std::byte> GgufBuilder::serialize(const WriteOptions& options) const {
  std::vector<std::byte> image = head(options);
  const uint32_t align = alignment();
  for (const auto& tensor : tensors_) {
    if (!tensor.zeros) image.insert(image.end(), tensor.data.begin(), tensor.data.end());
    image.resize(image.size() + padded(tensor.size, align) - (tensor.zeros ? 0 : tensor.size), std::byte{0});
  }
  return image;
}

void GgufBuilder::write(const std::filesystem::path& path, const WriteOptions& options) const {
  const std::vector<std::byte> image = head(options);
  const uint32_t align = alignment();
  std::ofstream file(path, std::ios::binary | std::ios::trunc);
  file.write(reinterpret_cast<const char*>(image.data()), static_cast<std::streamsize>(image.size()));
  uint64_t end = image.size();
  static constexpr char kZeros[64] = {};
  for (const auto& tensor : tensors_) {
    const uint64_t span = padded(tensor.size, align);
    end += span;
    if (tensor.zeros) {
      file.seekp(static_cast<std::streamoff>(end));  // a hole: the file system reads it as zeros
      continue;
    }
    file.write(reinterpret_cast<const char*>(tensor.data.data()), static_cast<std::streamsize>(tensor.size));
    for (uint64_t left = span - tensor.size; left > 0;) {
      const uint64_t chunk = std::min<uint64_t>(left, sizeof(kZeros));
      file.write(kZeros, static_cast<std::streamsize>(chunk));
      left -= chunk;
    }
  }
  file.close();
  std::error_code ec;
  // A trailing hole exists only once the file is that long.
  if (file) std::filesystem::resize_file(path, end, ec);
  if (!file || ec) {
    throw Error(errc::invalid_argument, path.string() + ": cannot write GGUF file");
  }
}

}  // namespace inference::gguf
