#include "support/seed_8b_model.hpp"

#include <string>
#include <vector>

#include "inference/gguf/gguf_writer.hpp"
#include "inference/gguf/tensor_type.hpp"

namespace inference::test {

namespace {

constexpr std::uint32_t kBlocks = 32;
constexpr std::uint64_t kEmbedding = 4096;
constexpr std::uint64_t kKvWidth = 1024;  // 8 KV heads of 128
constexpr std::uint64_t kFeedForward = 14336;
constexpr std::uint64_t kVocabulary = 32000;
// general.file_type 15: MOSTLY_Q4_K_M, as llama.cpp's quantizer labels such a file.
constexpr std::uint32_t kFileTypeQ4KM = 15;

constexpr auto kQ4K = static_cast<std::uint32_t>(gguf::TensorType::q4_k);
constexpr auto kF32 = static_cast<std::uint32_t>(gguf::TensorType::f32);

void add_metadata(gguf::GgufBuilder& model) {
  model.set("general.architecture", std::string("llama"));
  model.set("general.name", std::string("seed-8b-shaped (zeros)"));
  model.set("general.file_type", kFileTypeQ4KM);
  model.set("llama.context_length", static_cast<std::uint32_t>(kSeed8bTrainingContext));
  model.set("llama.embedding_length", static_cast<std::uint32_t>(kEmbedding));
  model.set("llama.block_count", kBlocks);
  model.set("llama.feed_forward_length", static_cast<std::uint32_t>(kFeedForward));
  model.set("llama.attention.head_count", std::uint32_t{32});
  model.set("llama.attention.head_count_kv", std::uint32_t{8});
  model.set("llama.vocab_size", static_cast<std::uint32_t>(kVocabulary));
}

}  // namespace

void write_seed_8b_model(const std::filesystem::path& path) {
  gguf::GgufBuilder model;
  add_metadata(model);
  model.add_zero_tensor("token_embd.weight", kQ4K, {kEmbedding, kVocabulary});
  for (std::uint32_t block = 0; block < kBlocks; ++block) {
    const std::string blk = "blk." + std::to_string(block) + ".";
    model.add_zero_tensor(blk + "attn_norm.weight", kF32, {kEmbedding});
    model.add_zero_tensor(blk + "attn_q.weight", kQ4K, {kEmbedding, kEmbedding});
    model.add_zero_tensor(blk + "attn_k.weight", kQ4K, {kEmbedding, kKvWidth});
    model.add_zero_tensor(blk + "attn_v.weight", kQ4K, {kEmbedding, kKvWidth});
    model.add_zero_tensor(blk + "attn_output.weight", kQ4K, {kEmbedding, kEmbedding});
    model.add_zero_tensor(blk + "ffn_norm.weight", kF32, {kEmbedding});
    model.add_zero_tensor(blk + "ffn_gate.weight", kQ4K, {kEmbedding, kFeedForward});
    model.add_zero_tensor(blk + "ffn_up.weight", kQ4K, {kEmbedding, kFeedForward});
    model.add_zero_tensor(blk + "ffn_down.weight", kQ4K, {kFeedForward, kEmbedding});
  }
  model.add_zero_tensor("output_norm.weight", kF32, {kEmbedding});
  model.add_zero_tensor("output.weight", kQ4K, {kEmbedding, kVocabulary});
  model.write(path);
}

}  // namespace inference::test
