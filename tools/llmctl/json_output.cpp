#include "json_output.hpp"

#include <boost/json/serialize.hpp>
#include <cstdio>
#include <string>

#include "inference/error.hpp"
#include "milliseconds.hpp"

namespace llmctl {

void print_json_line(const boost::json::value& value) {
  std::string line = boost::json::serialize(value);
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

boost::json::object token_json(const inference::Token& token) {
  boost::json::object out;
  out["id"] = token.id;
  out["text"] = token.text;
  return out;
}

boost::json::object result_json(const inference::GenerateResult& result) {
  const auto& metrics = result.metrics;
  boost::json::object out;
  out["finish_reason"] = inference::to_string(result.finish_reason);
  out["prompt_tokens"] = metrics.prompt_tokens;
  out["generated_tokens"] = metrics.generated_tokens;
  out["cached_prompt_tokens"] = metrics.cached_prompt_tokens;
  out["queue_ms"] = to_milliseconds(metrics.queue_wait);
  out["ttft_ms"] = to_milliseconds(metrics.time_to_first_token);
  out["total_ms"] = to_milliseconds(metrics.total_time);
  out["prefill_tok_s"] = metrics.prefill_tokens_per_s;
  out["decode_tok_s"] = metrics.decode_tokens_per_s;
  out["replica"] = metrics.replica;
  out["slot"] = metrics.slot;
  if (result.error) {
    const bool ours = result.error.category() == inference::error_category();
    out["error"] = ours ? inference::error_name(static_cast<inference::errc>(result.error.value()))
                        : std::string_view(result.error.category().name());
    out["error_message"] = result.error_message;
    if (!result.error_detail.empty()) out["error_detail"] = result.error_detail;
  }
  return out;
}

}  // namespace llmctl
