// What a model file is, as read from its metadata before any server is started.
// Plain value type; safe to copy and share between threads.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace inference {

struct ModelInfo {
  std::string path;          // the file given (first shard for split models)
  std::string architecture;  // general.architecture, e.g. "llama"
  std::string name;          // general.name, empty when absent
  std::string file_type;     // quantisation named from general.file_type: "Q4_K_M", "F16", "type_N"
  std::optional<uint32_t> file_type_id;
  std::string size_label;         // general.size_label, e.g. "8B"
  uint64_t context_length = 0;    // <arch>.context_length (0 when absent)
  uint64_t block_count = 0;       // <arch>.block_count: number of layers
  uint64_t embedding_length = 0;  // <arch>.embedding_length
  uint64_t head_count = 0;        // <arch>.attention.head_count
  uint64_t head_count_kv = 0;     // <arch>.attention.head_count_kv (defaults to head_count)
  uint64_t vocab_size = 0;        // length of tokenizer.ggml.tokens
  std::string tokenizer_model;    // tokenizer.ggml.model, e.g. "llama", "gpt2"
  bool has_chat_template = false;
  double bits_per_weight = 0.0;  // derived from the file type (0 when unknown)
  uint32_t gguf_version = 0;
  uint64_t tensor_count = 0;
  uint64_t tensor_bytes = 0;        // sum of all tensor data sizes, over all shards
  uint64_t file_size = 0;           // bytes on disk, over all shards
  std::vector<std::string> shards;  // every file of a split model, in order; one entry otherwise

  // Set by the backend that loaded the model (TextModel::info()), never by the file reader:
  // the context each slot serves and why that number (chosen to fit the device, or asked for),
  // and the device(s) it runs on. 0 and empty for a file that was only read.
  uint64_t serving_context_per_slot = 0;
  std::string serving_context_reason;  // "8192 tokens per slot (4 slots): the most that fits ..."
  std::string serving_device;          // "Vulkan0: llvmpipe (LLVM 21.1.8, 256 bits)", "GPU 0 (gfx1100)", "CPU"
};

}  // namespace inference
