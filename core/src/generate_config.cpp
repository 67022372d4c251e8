#include "inference/generate_config.hpp"

#include <cmath>
#include <sstream>

namespace inference {

namespace {

// "GenerateConfig::top_p must be in [0, 1], got 1.5"
Error out_of_range(std::string_view field, std::string_view range, auto value) {
  std::ostringstream text;
  text << "GenerateConfig::" << field << " must be " << range << ", got " << value;
  return Error(errc::invalid_argument, text.str());
}

bool non_negative(float value) { return std::isfinite(value) && value >= 0.0F; }
bool unit_interval(float value) { return non_negative(value) && value <= 1.0F; }

}  // namespace

std::optional<Error> validate(const GenerateConfig& config) {
  if (config.max_tokens && *config.max_tokens < 0) return out_of_range("max_tokens", ">= 0", *config.max_tokens);
  if (config.temperature && !non_negative(*config.temperature)) {
    return out_of_range("temperature", "a finite number >= 0", *config.temperature);
  }
  if (config.top_k && *config.top_k < 0) return out_of_range("top_k", ">= 0", *config.top_k);
  if (config.top_p && !unit_interval(*config.top_p)) return out_of_range("top_p", "in [0, 1]", *config.top_p);
  if (config.min_p && !unit_interval(*config.min_p)) return out_of_range("min_p", "in [0, 1]", *config.min_p);
  if (config.repeat_penalty && !non_negative(*config.repeat_penalty)) {
    return out_of_range("repeat_penalty", "a finite number >= 0", *config.repeat_penalty);
  }
  if (config.logprobs < 0) return out_of_range("logprobs", ">= 0", config.logprobs);
  return std::nullopt;
}

}  // namespace inference
