// Writes a tiny llama-architecture GGUF model with random weights and a small byte-level
// SentencePiece-style vocabulary that llama-server loads and generates from. Used by tests and
// the demo on machines that cannot download a model. Output is byte-identical for a given seed
// and options. Thread-safety: no shared state.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "inference/gguf/gguf_writer.hpp"

namespace inference::gguf {

struct TinyModelOptions {
  static constexpr uint32_t kDefaultEmbeddingLength = 64;
  static constexpr uint32_t kDefaultBlockCount = 2;
  static constexpr uint32_t kDefaultHeadCount = 4;
  static constexpr uint32_t kDefaultHeadCountKv = 2;
  static constexpr uint32_t kDefaultFeedForwardLength = 128;
  static constexpr uint32_t kDefaultContextLength = 2048;

  std::string name = "tiny-random-llama";
  uint32_t embedding_length = kDefaultEmbeddingLength;
  uint32_t block_count = kDefaultBlockCount;
  uint32_t head_count = kDefaultHeadCount;
  uint32_t head_count_kv = kDefaultHeadCountKv;
  uint32_t feed_forward_length = kDefaultFeedForwardLength;
  uint32_t context_length = kDefaultContextLength;
  bool chat_template = true;  // include a ChatML tokenizer.chat_template
  uint32_t version = kMaxVersion;
};

// The model as a builder (for tests that want to alter it before writing).
// Throws Error(errc::invalid_argument) for inconsistent options (e.g. head counts that do not
// divide the embedding length).
GgufBuilder make_tiny_model(uint64_t seed, const TinyModelOptions& options = {});

// make_tiny_model(seed, options).write(path). A default model is about 0.5 MB.
void write_tiny_model(const std::filesystem::path& path, uint64_t seed, const TinyModelOptions& options = {});

}  // namespace inference::gguf
