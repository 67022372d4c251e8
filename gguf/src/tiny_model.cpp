#include "inference/gguf/tiny_model.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>

#include "inference/error.hpp"
#include "inference/gguf/tensor_type.hpp"
#include "tiny_vocabulary.hpp"

namespace inference::gguf {
namespace {

constexpr uint32_t kFileTypeAllF32 = 0;  // general.file_type of an all-F32 model
constexpr float kRmsNormEpsilon = 1e-5F;
constexpr float kRopeFreqBase = 10000.0F;

// A generic ChatML template: the conversation format llama-server's chat endpoint needs.
constexpr const char* kChatMlTemplate =
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// splitmix64: tiny, fast, and fully specified, so a seed gives the same bytes everywhere.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}

  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }

  // Uniform in [-1, 1), from the top 24 bits so the value is exact in a float.
  float symmetric() {
    constexpr int kMantissaBits = 24;
    const auto bits = static_cast<uint32_t>(next() >> (64 - kMantissaBits));
    return static_cast<float>(bits) / static_cast<float>(1U << (kMantissaBits - 1)) - 1.0F;
  }

 private:
  uint64_t state_;
};

std::vector<std::byte> f32_bytes(const std::vector<float>& values) {
  std::vector<std::byte> out(values.size() * sizeof(float));
  for (std::size_t i = 0; i < values.size(); ++i) {
    auto raw = std::bit_cast<std::array<std::byte, sizeof(float)>>(values[i]);
    if constexpr (std::endian::native == std::endian::big) std::reverse(raw.begin(), raw.end());
    std::memcpy(out.data() + i * sizeof(float), raw.data(), raw.size());
  }
  return out;
}

class TensorFactory {
 public:
  TensorFactory(GgufBuilder& builder, uint64_t seed) : builder_(builder), rng_(seed) {}

  // Weights uniform in +-1/sqrt(fan_in) keep activations of the random network in a sane range.
  void random(const std::string& name, uint64_t fan_in, uint64_t fan_out) {
    const float scale = 1.0F / std::sqrt(static_cast<float>(fan_in));
    std::vector<float> values(fan_in * fan_out);
    for (auto& v : values) v = rng_.symmetric() * scale;
    builder_.add_tensor(name, static_cast<uint32_t>(TensorType::f32), {fan_in, fan_out}, f32_bytes(values));
  }

  // RMS-norm weights of one keep the normalised activations unscaled.
  void ones(const std::string& name, uint64_t length) {
    builder_.add_tensor(name, static_cast<uint32_t>(TensorType::f32), {length},
                        f32_bytes(std::vector<float>(length, 1.0F)));
  }

 private:
  GgufBuilder& builder_;
  SplitMix64 rng_;
};

void check(const TinyModelOptions& o) {
  const bool valid = o.embedding_length > 0 && o.block_count > 0 && o.head_count > 0 && o.head_count_kv > 0 &&
                     o.feed_forward_length > 0 && o.context_length > 0 && o.embedding_length % o.head_count == 0 &&
                     o.head_count % o.head_count_kv == 0 &&
                     (o.embedding_length / o.head_count) % 2 == 0;  // RoPE rotates pairs
  if (!valid) {
    throw Error(errc::invalid_argument,
                "tiny model: dimensions must be positive, heads must divide the embedding into "
                "even head sizes and kv heads must divide heads");
  }
}

// The tokenizer's keys: the vocabulary with its scores and types, and the special tokens.
void set_vocabulary(GgufBuilder& b, const detail::TinyVocabulary& vocab) {
  std::vector<Value> tokens(vocab.tokens.begin(), vocab.tokens.end());
  std::vector<Value> scores(vocab.scores.begin(), vocab.scores.end());
  std::vector<Value> types;
  types.reserve(vocab.types.size());
  for (auto t : vocab.types) types.emplace_back(static_cast<int32_t>(t));
  b.set("tokenizer.ggml.model", "llama");
  b.set("tokenizer.ggml.tokens", make_array(ValueType::string, std::move(tokens)));
  b.set("tokenizer.ggml.scores", make_array(ValueType::float32, std::move(scores)));
  b.set("tokenizer.ggml.token_type", make_array(ValueType::int32, std::move(types)));
  b.set("tokenizer.ggml.bos_token_id", vocab.bos_id);
  b.set("tokenizer.ggml.eos_token_id", vocab.eos_id);
  b.set("tokenizer.ggml.unknown_token_id", vocab.unknown_id);
  b.set("tokenizer.ggml.add_bos_token", true);
  b.set("tokenizer.ggml.add_eos_token", false);
}

}  // namespace

GgufBuilder make_tiny_model(uint64_t seed, const TinyModelOptions& options) {
  check(options);
  const auto vocab = detail::make_tiny_vocabulary();
  const uint32_t n_vocab = static_cast<uint32_t>(vocab.tokens.size());
  const uint32_t n_embd = options.embedding_length;
  const uint32_t head_dim = n_embd / options.head_count;
  const uint32_t n_embd_kv = head_dim * options.head_count_kv;

  GgufBuilder b;
  b.set("general.architecture", "llama");
  b.set("general.name", options.name);
  b.set("general.file_type", kFileTypeAllF32);
  b.set(std::string(kAlignmentKey), kDefaultAlignment);
  b.set("llama.vocab_size", n_vocab);
  b.set("llama.context_length", options.context_length);
  b.set("llama.embedding_length", n_embd);
  b.set("llama.block_count", options.block_count);
  b.set("llama.feed_forward_length", options.feed_forward_length);
  b.set("llama.rope.dimension_count", head_dim);
  b.set("llama.rope.freq_base", kRopeFreqBase);
  b.set("llama.attention.head_count", options.head_count);
  b.set("llama.attention.head_count_kv", options.head_count_kv);
  b.set("llama.attention.layer_norm_rms_epsilon", kRmsNormEpsilon);

  set_vocabulary(b, vocab);
  if (options.chat_template) {
    b.set("tokenizer.chat_template", kChatMlTemplate);
  }

  // Shapes list ne[0] (the input dimension) first, as llama.cpp's loader expects.
  TensorFactory t(b, seed);
  t.random("token_embd.weight", n_embd, n_vocab);
  for (uint32_t i = 0; i < options.block_count; ++i) {
    const std::string blk = "blk." + std::to_string(i) + ".";
    t.ones(blk + "attn_norm.weight", n_embd);
    t.random(blk + "attn_q.weight", n_embd, n_embd);
    t.random(blk + "attn_k.weight", n_embd, n_embd_kv);
    t.random(blk + "attn_v.weight", n_embd, n_embd_kv);
    t.random(blk + "attn_output.weight", n_embd, n_embd);
    t.ones(blk + "ffn_norm.weight", n_embd);
    t.random(blk + "ffn_gate.weight", n_embd, options.feed_forward_length);
    t.random(blk + "ffn_down.weight", options.feed_forward_length, n_embd);
    t.random(blk + "ffn_up.weight", n_embd, options.feed_forward_length);
  }
  t.ones("output_norm.weight", n_embd);
  t.random("output.weight", n_embd, n_vocab);
  return b;
}

void write_tiny_model(const std::filesystem::path& path, uint64_t seed, const TinyModelOptions& options) {
  make_tiny_model(seed, options).write(path, WriteOptions{options.version});
}

}  // namespace inference::gguf
