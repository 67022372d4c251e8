#include "inference/llama_server/request_params.hpp"

#include <utility>

namespace inference::llama_server {

CompletionParams request_params(const GenerateConfig& config, std::string prompt, uint32_t slot,
                                const EngineOptions& engine) {
  CompletionParams params;
  params.prompt = std::move(prompt);
  params.n_predict = config.effective_max_tokens();
  if (config.temperature) params.temperature = *config.temperature;
  params.top_k = config.top_k;
  if (config.top_p) params.top_p = *config.top_p;
  if (config.min_p) params.min_p = *config.min_p;
  if (config.repeat_penalty) params.repeat_penalty = *config.repeat_penalty;
  if (config.seed) params.seed = static_cast<uint32_t>(*config.seed);
  params.stop = config.stop;
  if (config.logprobs > 0) params.n_probs = config.logprobs;
  params.id_slot = static_cast<int32_t>(slot);
  params.cache_prompt = true;
  if (engine.ignore_eos) params.ignore_eos = true;
  return params;
}

}  // namespace inference::llama_server
