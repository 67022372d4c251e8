#include "inference/gguf/model_info_reader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <system_error>

#include "inference/error.hpp"
#include "inference/gguf/file_type.hpp"
#include "inference/gguf/gguf_reader.hpp"
#include "inference/gguf/split_model.hpp"

namespace inference::gguf {
namespace {

constexpr std::string_view kSplitCountKey = "split.count";

class MetadataView {
 public:
  explicit MetadataView(const GgufFile& file) : file_(file) {}

  [[noreturn]] void wrong_type(std::string_view key, const Value& value, std::string_view expected) const {
    throw Error(errc::invalid_model, fmt::format("{}: key '{}' has type {}, expected {}", file_.path.string(), key,
                                                 value_type_name(value.type()), expected));
  }

  std::string string(std::string_view key) const {
    const auto* value = file_.find(key);
    if (value == nullptr) return {};
    if (const auto* s = value->as_string()) return *s;
    wrong_type(key, *value, "string");
  }

  std::optional<uint64_t> uint(std::string_view key) const {
    const auto* value = file_.find(key);
    if (value == nullptr) return std::nullopt;
    if (auto n = value->as_uint()) return n;
    wrong_type(key, *value, "a non-negative integer");
  }

  // Per-layer hyperparameters may be stored as arrays (one entry per block); the largest entry
  // describes the model best.
  uint64_t uint_or_max(std::string_view key) const {
    const auto* value = file_.find(key);
    if (value == nullptr) return 0;
    if (auto n = value->as_uint()) return *n;
    if (const auto* array = value->as_array()) {
      uint64_t best = 0;
      for (const auto& item : array->items) {
        const auto n = item.as_uint();
        if (!n) wrong_type(key, *value, "an integer or an array of integers");
        best = std::max(best, *n);
      }
      return best;
    }
    wrong_type(key, *value, "an integer or an array of integers");
  }

 private:
  const GgufFile& file_;
};

}  // namespace

inference::ModelInfo model_info_from(const GgufFile& file) {
  const MetadataView meta(file);
  inference::ModelInfo info;
  info.path = file.path.string();
  info.architecture = meta.string("general.architecture");
  info.name = meta.string("general.name");
  info.size_label = meta.string("general.size_label");
  if (const auto file_type = meta.uint("general.file_type")) {
    const auto id = static_cast<uint32_t>(*file_type);
    info.file_type_id = id;
    info.file_type = file_type_name(id);
    info.bits_per_weight = file_type_bits_per_weight(id);
  }
  if (!info.architecture.empty()) {
    const std::string arch = info.architecture + ".";
    info.context_length = meta.uint_or_max(arch + "context_length");
    info.block_count = meta.uint_or_max(arch + "block_count");
    info.embedding_length = meta.uint_or_max(arch + "embedding_length");
    info.head_count = meta.uint_or_max(arch + "attention.head_count");
    info.head_count_kv = meta.uint_or_max(arch + "attention.head_count_kv");
    if (file.find(arch + "attention.head_count_kv") == nullptr) {
      info.head_count_kv = info.head_count;
    }
    info.vocab_size = meta.uint_or_max(arch + "vocab_size");
  }
  if (const auto* tokens = file.find("tokenizer.ggml.tokens")) {
    const auto* array = tokens->as_array();
    if (array == nullptr) meta.wrong_type("tokenizer.ggml.tokens", *tokens, "array");
    info.vocab_size = array->items.size();
  }
  info.tokenizer_model = meta.string("tokenizer.ggml.model");
  info.has_chat_template = file.find("tokenizer.chat_template") != nullptr;
  info.gguf_version = file.version;
  info.tensor_count = file.tensors.size();
  info.tensor_bytes = file.tensor_bytes();
  info.file_size = file.file_size;
  info.shards = {file.path.string()};
  return info;
}

inference::ModelInfo read_model_info(const std::filesystem::path& path, const ReaderLimits& limits) {
  const auto shard = parse_shard_name(path);
  if (!shard || shard->count == 1) {
    const auto file = read_gguf(path, limits);
    auto info = model_info_from(file);
    if (info.architecture.empty()) {
      throw Error(errc::invalid_model, path.string() + ": no general.architecture key; a GGUF file but not a model");
    }
    if (const auto count = MetadataView(file).uint(kSplitCountKey); count && *count > 1) {
      throw Error(errc::invalid_model, fmt::format("{}: metadata says the model is split into {} files, but the name "
                                                   "does not follow <name>-00001-of-{:05}.gguf",
                                                   path.string(), *count, *count));
    }
    return info;
  }

  const auto paths = shard_paths(*shard);
  for (std::size_t i = 0; i < paths.size(); ++i) {
    std::error_code ec;
    if (!std::filesystem::exists(paths[i], ec)) {
      throw Error(errc::invalid_model, fmt::format("{}: split model is missing shard {} of {} ({})", path.string(),
                                                   i + 1, paths.size(), paths[i].string()));
    }
  }
  const auto first = read_gguf(paths.front(), limits);
  auto info = model_info_from(first);
  if (info.architecture.empty()) {
    throw Error(errc::invalid_model,
                paths.front().string() + ": no general.architecture key; a GGUF file but not a model");
  }
  if (const auto count = MetadataView(first).uint(kSplitCountKey); count && *count != shard->count) {
    throw Error(errc::invalid_model, fmt::format("{}: metadata says split.count = {}, but the file name says {} shards",
                                                 paths.front().string(), *count, shard->count));
  }
  info.shards.clear();
  info.shards.push_back(paths.front().string());
  for (std::size_t i = 1; i < paths.size(); ++i) {
    const auto part = read_gguf(paths[i], limits);
    info.tensor_count += part.tensors.size();
    info.tensor_bytes += part.tensor_bytes();
    info.file_size += part.file_size;
    info.shards.push_back(paths[i].string());
  }
  return info;
}

}  // namespace inference::gguf
