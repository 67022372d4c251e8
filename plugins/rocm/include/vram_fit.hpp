// The pre-flight VRAM check: does a model (weights from the GGUF tensor sizes, plus the KV cache
// for every slot's context) fit in a GPU's free VRAM, and if not, how many layers would.
// An estimate, deliberately on the generous side: refusing at load with the numbers beats
// llama-server failing an allocation halfway through loading.
// Pure functions on plain values: safe from any thread.
#pragma once

#include <cstdint>
#include <string>

#include "inference/model_info.hpp"

namespace inference::rocm {

// K and V are stored as f16 by default (llama-server's --cache-type-k/v f16).
inline constexpr std::uint64_t kKvBytesPerElement = 2;
// Room for what the estimate leaves out: the HIP runtime's context, llama.cpp's compute
// buffers (a few hundred MiB for a 4k batch) and allocator fragmentation.
inline constexpr std::uint64_t kFitHeadroomBytes = 768ull << 20;

struct FitEstimate {
  std::uint64_t weight_bytes = 0;  // tensor bytes of the offloaded part
  std::uint64_t kv_bytes = 0;      // KV cache of the offloaded layers
  std::uint64_t headroom_bytes = 0;
  std::uint64_t required_bytes = 0;  // the sum of the three
  std::uint64_t free_bytes = 0;
  std::uint64_t total_context = 0;  // tokens, over all slots
  std::uint64_t layers = 0;         // layers estimated on the GPU
  bool fits() const noexcept { return required_bytes <= free_bytes; }
};

// KV cache bytes for `total_context` tokens on all of the model's layers:
// 2 (K and V) × block_count × total_context × (embedding_length × head_count_kv / head_count)
// × kKvBytesPerElement. 0 when the model does not state its shape.
std::uint64_t kv_cache_bytes(const ModelInfo& model, std::uint64_t total_context) noexcept;

// The tokens llama-server will allocate: context_per_slot × slots, or the model's training
// context when context_per_slot is 0 (the engine then passes -c 0).
std::uint64_t total_context(const ModelInfo& model, std::uint32_t context_per_slot, std::uint32_t slots) noexcept;

// The estimate for `gpu_layers` layers on the GPU (negative or >= block_count: all of them;
// a part is weighted proportionally).
FitEstimate estimate_fit(const ModelInfo& model, std::uint64_t total_context, std::int32_t gpu_layers,
                         std::uint64_t free_bytes) noexcept;

// The most layers whose estimate fits in free_bytes (0 when none does).
std::int32_t layers_that_fit(const ModelInfo& model, std::uint64_t total_context, std::uint64_t free_bytes) noexcept;

// "model.gguf needs 9012 MiB (weights 7800 MiB + KV cache 444 MiB for 8192 tokens + headroom
// 768 MiB) but GPU 0 has 6000 MiB free"
std::string describe_shortfall(const ModelInfo& model, const FitEstimate& estimate, const std::string& gpu);

}  // namespace inference::rocm
