#include "inference/llama_server/serving_context.hpp"

#include <algorithm>
#include <string>

#include "inference/error.hpp"
#include "inference/llama_server/engine_option_keys.hpp"

namespace inference::llama_server {

namespace {
// The device name the host-memory messages use: "... but the host has 900 MiB free".
constexpr std::string_view kHost = "the host";
}  // namespace

ServingContext asked_context(std::uint32_t context_len) {
  return {context_len, "asked (context_len=" + std::to_string(context_len) + ")"};
}

std::uint64_t host_memory_budget(const std::map<std::string, std::string>& backend_options,
                                 const std::filesystem::path& meminfo) {
  const auto it = backend_options.find(std::string(engine_option::kHostMemoryMib.name));
  if (it == backend_options.end()) return host_available_memory(meminfo);
  const std::optional<std::uint64_t> mib = engine_option::host_memory_mib_from(it->second);
  if (!mib) throw Error(errc::invalid_argument, engine_option::host_memory_mib_refusal(it->second));
  return *mib * kMiB;
}

ServingContext fit_host_memory(const ModelInfo& model, const LoadOptions& options, std::uint64_t available_bytes,
                               std::uint32_t replicas) {
  constexpr std::int32_t kEverything = -1;  // on the CPU every layer's weights and KV cache are in host memory
  const std::uint32_t slots = options.parallel_slots * std::max<std::uint32_t>(replicas, 1);
  if (options.context_len == 0) {
    ContextChoice choice = choose_context(model, slots, kEverything, available_bytes, std::string(kHost));
    return {choice.context_per_slot, std::move(choice.reason)};
  }
  const std::uint64_t context = total_context(model, options.context_len, slots);
  const FitEstimate estimate = estimate_fit(model, context, kEverything, available_bytes);
  if (!estimate.fits()) {
    // Refused here, before the spawn: llama-server would allocate until the load timeout or the
    // OOM killer ended it.
    throw Error(errc::invalid_argument, describe_shortfall(model, estimate, std::string(kHost)) +
                                            " (MemAvailable, or the host_memory_mib backend option); lower context_len "
                                            "or parallel_slots, or leave context_len unset to get the "
                                            "largest context that fits");
  }
  return asked_context(options.context_len);
}

}  // namespace inference::llama_server
