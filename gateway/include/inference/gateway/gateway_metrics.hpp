// GatewayMetrics: the counters and histograms behind GET /metrics, in Prometheus' text
// exposition format (version 0.0.4). Names (prefix inference_):
//   inference_requests_total{model,endpoint,outcome}    counter; outcome "stop", "length",
//                                                       "cancelled" or a runtime error name
//   inference_http_responses_total{code}                counter, every HTTP answer by status
//   inference_prompt_tokens_total{model}, inference_completion_tokens_total{model},
//   inference_cached_prompt_tokens_total{model}          counters
//   inference_time_to_first_token_seconds{model}         histogram
//   inference_queue_wait_seconds{model}                  histogram
//   inference_queue_depth{model}, inference_slots_busy{model}, inference_slots_total{model},
//   inference_model_loaded{model}                        gauges (from ModelPool::status())
//   inference_restarts_total{model}                      counter (server restarts, all loads)
//
// Threading: not thread-safe; used on the gateway's one executor.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "inference/gateway/model_pool.hpp"
#include "inference/gateway/openai_request.hpp"
#include "inference/types.hpp"

namespace inference::gateway {

class GatewayMetrics {
 public:
  // One finished request (any outcome): counts it, and its tokens and timings from `result`.
  // A request refused before it reached a model (bad body, unknown model) counts with the
  // model name the client gave only if that model is served, else under model "".
  void record_request(std::string_view model, Endpoint endpoint, std::string_view outcome,
                      const GenerateMetrics& metrics);
  void record_http_response(unsigned status);

  // The whole exposition, the pool's gauges included.
  std::string render(const std::vector<ModelStatus>& models) const;

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative at render time; per bucket here
    uint64_t count = 0;
    double sum = 0.0;
    void observe(double seconds);
  };
  struct PerModel {
    uint64_t prompt_tokens = 0;
    uint64_t completion_tokens = 0;
    uint64_t cached_prompt_tokens = 0;
    Histogram ttft;
    Histogram queue_wait;
  };
  std::map<std::string, PerModel, std::less<>> per_model_;
  // (model, endpoint, outcome) -> count
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> requests_;
  std::map<unsigned, uint64_t> http_responses_;
};

// Histogram bucket upper bounds, in seconds (the +Inf bucket is implied).
extern const std::vector<double> kLatencyBuckets;

}  // namespace inference::gateway
