#include "vram_fit.hpp"

#include <algorithm>

#include "amd_gpu.hpp"

namespace inference::rocm {

namespace {
constexpr std::uint64_t kKeyAndValue = 2;
}  // namespace

std::uint64_t kv_cache_bytes(const ModelInfo& model, std::uint64_t total_context) noexcept {
  if (model.head_count == 0 || model.block_count == 0) return 0;
  const std::uint64_t head_count_kv = model.head_count_kv == 0 ? model.head_count : model.head_count_kv;
  const std::uint64_t kv_width = model.embedding_length * head_count_kv / model.head_count;
  return kKeyAndValue * model.block_count * total_context * kv_width * kKvBytesPerElement;
}

std::uint64_t total_context(const ModelInfo& model, std::uint32_t context_per_slot, std::uint32_t slots) noexcept {
  if (context_per_slot == 0) return model.context_length;
  return static_cast<std::uint64_t>(context_per_slot) * slots;
}

FitEstimate estimate_fit(const ModelInfo& model, std::uint64_t total_context, std::int32_t gpu_layers,
                         std::uint64_t free_bytes) noexcept {
  FitEstimate estimate;
  estimate.total_context = total_context;
  estimate.free_bytes = free_bytes;
  const std::uint64_t all_layers = model.block_count;
  const bool everything = gpu_layers < 0 || all_layers == 0 || static_cast<std::uint64_t>(gpu_layers) >= all_layers;
  estimate.layers = everything ? all_layers : static_cast<std::uint64_t>(gpu_layers);
  const std::uint64_t kv_all = kv_cache_bytes(model, total_context);
  if (everything) {
    estimate.weight_bytes = model.tensor_bytes;
    estimate.kv_bytes = kv_all;
  } else {
    // Per-layer share; it includes a share of the embeddings and output head, so it errs high.
    estimate.weight_bytes = model.tensor_bytes / all_layers * estimate.layers;
    estimate.kv_bytes = kv_all / all_layers * estimate.layers;
  }
  estimate.headroom_bytes = estimate.layers == 0 && !everything ? 0 : kFitHeadroomBytes;
  estimate.required_bytes = estimate.weight_bytes + estimate.kv_bytes + estimate.headroom_bytes;
  return estimate;
}

std::int32_t layers_that_fit(const ModelInfo& model, std::uint64_t total_context, std::uint64_t free_bytes) noexcept {
  const std::uint64_t all_layers = model.block_count;
  if (all_layers == 0 || free_bytes <= kFitHeadroomBytes) return 0;
  if (estimate_fit(model, total_context, -1, free_bytes).fits()) return static_cast<std::int32_t>(all_layers);
  // Same per-layer shares as estimate_fit, so the answer agrees with it.
  const std::uint64_t per_layer = model.tensor_bytes / all_layers + kv_cache_bytes(model, total_context) / all_layers;
  if (per_layer == 0) return static_cast<std::int32_t>(all_layers - 1);
  const std::uint64_t layers = std::min((free_bytes - kFitHeadroomBytes) / per_layer, all_layers - 1);
  return static_cast<std::int32_t>(layers);
}

std::string describe_shortfall(const ModelInfo& model, const FitEstimate& estimate, const std::string& gpu) {
  const std::string layers =
      estimate.layers == model.block_count
          ? std::string("all ") + std::to_string(model.block_count) + " layers"
          : std::to_string(estimate.layers) + " of " + std::to_string(model.block_count) + " layers";
  return model.path + " needs " + std::to_string(to_mib(estimate.required_bytes)) + " MiB for " + layers +
         " (weights " + std::to_string(to_mib(estimate.weight_bytes)) + " MiB + KV cache " +
         std::to_string(to_mib(estimate.kv_bytes)) + " MiB for " + std::to_string(estimate.total_context) +
         " tokens + headroom " + std::to_string(to_mib(estimate.headroom_bytes)) + " MiB) but " + gpu + " has " +
         std::to_string(to_mib(estimate.free_bytes)) + " MiB free";
}

}  // namespace inference::rocm
