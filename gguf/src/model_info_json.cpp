#include "inference/gguf/model_info_json.hpp"

#include <boost/json/array.hpp>

#include "inference/error.hpp"

namespace inference::gguf {

boost::json::object to_json(const inference::ModelInfo& info) {
  boost::json::object out;
  out["path"] = info.path;
  out["architecture"] = info.architecture;
  out["name"] = info.name;
  out["file_type"] = info.file_type;
  if (info.file_type_id) {
    out["file_type_id"] = *info.file_type_id;
  } else {
    out["file_type_id"] = nullptr;
  }
  out["size_label"] = info.size_label;
  out["context_length"] = info.context_length;
  out["block_count"] = info.block_count;
  out["embedding_length"] = info.embedding_length;
  out["head_count"] = info.head_count;
  out["head_count_kv"] = info.head_count_kv;
  out["vocab_size"] = info.vocab_size;
  out["tokenizer_model"] = info.tokenizer_model;
  out["has_chat_template"] = info.has_chat_template;
  out["bits_per_weight"] = info.bits_per_weight;
  out["gguf_version"] = info.gguf_version;
  out["tensor_count"] = info.tensor_count;
  out["tensor_bytes"] = info.tensor_bytes;
  out["file_size"] = info.file_size;
  boost::json::array shards;
  for (const auto& shard : info.shards) shards.emplace_back(shard);
  out["shards"] = std::move(shards);
  return out;
}

boost::json::object to_json(const DiscoveredModel& model) {
  boost::json::object out;
  out["path"] = model.path.string();
  out["ok"] = model.ok();
  if (model.info) {
    out["model"] = to_json(*model.info);
  } else {
    out["error"] = model.error.category() == error_category()
                       ? std::string(error_name(static_cast<errc>(model.error.value())))
                       : model.error.message();
    out["reason"] = model.reason;
  }
  return out;
}

}  // namespace inference::gguf
