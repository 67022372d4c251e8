// The context a load serves and why (ModelInfo::serving_context_per_slot/_reason): for a load
// whose weights and KV cache live in the host's memory (a CPU build, or a GPU backend with
// gpu_layers=0) chosen or checked against that memory with memory_fit's estimate, and for an
// explicit context_len the reason that says it was asked for.
//
// Ownership: plain values. Thread-safety: pure functions but host_memory_budget(), which reads
// one small file; safe from any thread. Cancellation: nothing here waits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "inference/llama_server/memory_fit.hpp"
#include "inference/load_options.hpp"
#include "inference/model_info.hpp"

namespace inference::llama_server {

// What ModelInfo's serving_context fields say.
struct ServingContext {
  std::uint32_t context_per_slot = 0;
  std::string reason;
};

// What a load with an explicit context serves: "asked (context_len=8192)".
ServingContext asked_context(std::uint32_t context_len);

// The host memory a load may use: the host_memory_mib backend option when set (bytes), else
// host_available_memory(meminfo). Throws Error(invalid_argument) for a bad host_memory_mib value,
// and what host_available_memory() throws.
std::uint64_t host_memory_budget(const std::map<std::string, std::string>& backend_options,
                                 const std::filesystem::path& meminfo = std::filesystem::path(kDefaultMeminfoPath));

// The context of a load that runs in `available_bytes` of host memory (all layers count): with
// options.context_len 0, choose_context() against "the host"; otherwise the asked context, when
// its estimate fits. `replicas` server processes share the weights (one mapping of the file in
// the page cache) and each have their own slots' KV cache, so the estimate counts the weights
// once and parallel_slots × replicas slots. Throws Error(invalid_argument) with the numbers when
// it does not fit (or when not even the smallest chosen context does), before anything is spawned.
ServingContext fit_host_memory(const ModelInfo& model, const LoadOptions& options, std::uint64_t available_bytes,
                               std::uint32_t replicas = 1);

}  // namespace inference::llama_server
