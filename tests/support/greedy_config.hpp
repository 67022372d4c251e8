// The request configuration the integration tests use: greedy sampling (temperature 0), so a
// run is reproducible, and a token budget.
#pragma once

#include <cstdint>

#include "inference/generate_config.hpp"

namespace inference::test {

inline GenerateConfig greedy(int32_t max_tokens) {
  GenerateConfig config;
  config.max_tokens = max_tokens;
  config.temperature = 0.0F;
  return config;
}

}  // namespace inference::test
