#include "inference/llama_server/memory_fit.hpp"

#include <algorithm>
#include <fstream>
#include <string>

#include "inference/error.hpp"

namespace inference::llama_server {

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

std::string describe_shortfall(const ModelInfo& model, const FitEstimate& estimate, const std::string& device) {
  const std::string layers =
      estimate.layers == model.block_count
          ? std::string("all ") + std::to_string(model.block_count) + " layers"
          : std::to_string(estimate.layers) + " of " + std::to_string(model.block_count) + " layers";
  return model.path + " needs " + std::to_string(to_mib(estimate.required_bytes)) + " MiB for " + layers +
         " (weights " + std::to_string(to_mib(estimate.weight_bytes)) + " MiB + KV cache " +
         std::to_string(to_mib(estimate.kv_bytes)) + " MiB for " + std::to_string(estimate.total_context) +
         " tokens + headroom " + std::to_string(to_mib(estimate.headroom_bytes)) + " MiB) but " + device + " has " +
         std::to_string(to_mib(estimate.free_bytes)) + " MiB free";
}

ContextChoice choose_context(const ModelInfo& model, std::uint32_t slots, std::int32_t gpu_layers,
                             std::uint64_t free_bytes, const std::string& device) {
  if (model.context_length == 0 || model.block_count == 0) {
    throw Error(errc::invalid_argument, model.path +
                                            " states no training context or layer count to choose a context from: set "
                                            "context_len");
  }
  slots = std::max<std::uint32_t>(slots, 1);
  const auto estimate_for = [&](std::uint64_t per_slot) {
    return estimate_fit(model, per_slot * slots, gpu_layers, free_bytes);
  };
  const std::uint64_t trained = model.context_length;
  const std::uint64_t floor = std::min<std::uint64_t>(kMinChosenContextPerSlot, trained);
  const FitEstimate at_floor = estimate_for(floor);
  if (!at_floor.fits()) {
    throw Error(errc::invalid_argument,
                describe_shortfall(model, at_floor, device) + " at the smallest context chosen unasked (" +
                    std::to_string(floor) + " tokens per slot × " + std::to_string(slots) +
                    " slots); free memory, use fewer parallel_slots or gpu_layers, or set context_len explicitly");
  }
  // The estimate grows with the context, so the largest fitting step is found by bisection over
  // multiples of kChosenContextStep in (floor, trained]; the training context itself when it fits.
  std::uint64_t chosen = floor;
  if (estimate_for(trained).fits()) {
    chosen = trained;
  } else {
    std::uint64_t low = floor / kChosenContextStep;         // fits (as a multiple: floor is one, or below the first)
    std::uint64_t high = trained / kChosenContextStep + 1;  // does not fit
    while (high - low > 1) {
      const std::uint64_t middle = low + (high - low) / 2;
      if (middle * kChosenContextStep <= trained && estimate_for(middle * kChosenContextStep).fits()) {
        low = middle;
      } else {
        high = middle;
      }
    }
    chosen = std::max<std::uint64_t>(floor, low * kChosenContextStep);
  }
  ContextChoice choice;
  choice.context_per_slot = static_cast<std::uint32_t>(chosen);
  choice.fit = estimate_for(chosen);
  choice.reason =
      std::to_string(chosen) + " tokens per slot (" + std::to_string(slots) + " slot" + (slots == 1 ? "" : "s") +
      "): " + (chosen == trained ? std::string("the model's whole training context fits ") : "the most that fits ") +
      device + " (" + std::to_string(to_mib(choice.fit.required_bytes)) + " MiB needed of " +
      std::to_string(to_mib(free_bytes)) + " MiB free); the model was trained for " + std::to_string(trained);
  return choice;
}

std::uint64_t host_available_memory(const std::filesystem::path& meminfo) {
  std::ifstream in(meminfo);
  if (!in) throw Error(errc::backend_unavailable, "cannot read " + meminfo.string() + " for the host's free memory");
  std::string line;
  // The file is a few dozen short lines; bound the scan anyway in case the path names something else.
  for (int i = 0; i < 256 && std::getline(in, line); ++i) {
    constexpr std::string_view kKey = "MemAvailable:";
    if (line.rfind(kKey, 0) != 0) continue;
    try {
      std::size_t used = 0;
      const unsigned long long kib = std::stoull(line.substr(kKey.size()), &used);
      return static_cast<std::uint64_t>(kib) * 1024;
    } catch (const std::exception&) {
      break;
    }
  }
  throw Error(errc::backend_unavailable, meminfo.string() + " has no readable MemAvailable line");
}

}  // namespace inference::llama_server
