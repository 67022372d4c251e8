#include "inference/gateway/gateway_metrics.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <set>

namespace inference::gateway {

// From a cached prompt (a few ms) to a long generation queued behind others (a minute).
const std::vector<double> kLatencyBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};

namespace {

std::string_view endpoint_label(Endpoint endpoint) {
  switch (endpoint) {
    case Endpoint::chat_completions:
      return "chat_completions";
    case Endpoint::completions:
      return "completions";
  }
  return "unknown";
}

double seconds(std::chrono::nanoseconds duration) { return std::chrono::duration<double>(duration).count(); }

// A label value as the text format wants it: backslash, double quote and line feed escaped.
std::string escape_label(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (const char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string model_label(std::string_view model) { return "model=\"" + escape_label(model) + "\""; }

// Appends one metric family: its HELP and TYPE lines, then what `samples` writes.
class Exposition {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    fmt::format_to(std::back_inserter(text_), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  }
  void sample(std::string_view name, std::string_view labels, double value) {
    if (labels.empty()) {
      fmt::format_to(std::back_inserter(text_), "{} {}\n", name, value);
    } else {
      fmt::format_to(std::back_inserter(text_), "{}{{{}}} {}\n", name, labels, value);
    }
  }
  void sample(std::string_view name, std::string_view labels, uint64_t value) {
    fmt::format_to(std::back_inserter(text_), "{}{{{}}} {}\n", name, labels, value);
  }
  std::string take() && { return std::move(text_); }

 private:
  std::string text_;
};

}  // namespace

void GatewayMetrics::Histogram::observe(double value) {
  if (buckets.empty()) buckets.assign(kLatencyBuckets.size(), 0);
  const auto bound = std::lower_bound(kLatencyBuckets.begin(), kLatencyBuckets.end(), value);
  if (bound != kLatencyBuckets.end()) ++buckets[static_cast<std::size_t>(bound - kLatencyBuckets.begin())];
  ++count;
  sum += value;
}

void GatewayMetrics::record_request(std::string_view model, Endpoint endpoint, std::string_view outcome,
                                    const GenerateMetrics& metrics) {
  ++requests_[{std::string(model), std::string(endpoint_label(endpoint)), std::string(outcome)}];
  auto it = per_model_.find(model);
  if (it == per_model_.end()) it = per_model_.emplace(std::string(model), PerModel{}).first;
  PerModel& counts = it->second;
  counts.prompt_tokens += metrics.prompt_tokens;
  counts.completion_tokens += metrics.generated_tokens;
  counts.cached_prompt_tokens += metrics.cached_prompt_tokens;
  // Only requests that reached a model have timings: a refused one would add zeros.
  if (metrics.total_time.count() > 0) counts.queue_wait.observe(seconds(metrics.queue_wait));
  if (metrics.generated_tokens > 0) counts.ttft.observe(seconds(metrics.time_to_first_token));
}

void GatewayMetrics::record_http_response(unsigned status) { ++http_responses_[status]; }

namespace {

void render_histogram(Exposition& out, std::string_view name, const std::string& labels,
                      const std::vector<uint64_t>& buckets, uint64_t count, double sum) {
  const std::string bucket_name = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (std::size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (i < buckets.size()) cumulative += buckets[i];
    out.sample(bucket_name, fmt::format("{},le=\"{}\"", labels, kLatencyBuckets[i]), cumulative);
  }
  out.sample(bucket_name, labels + ",le=\"+Inf\"", count);
  out.sample(std::string(name) + "_sum", labels, sum);
  out.sample(std::string(name) + "_count", labels, count);
}

// Per replica (server process) of a loaded model: its slots, whether it serves, its restarts.
void render_replicas(Exposition& out, const std::vector<ModelStatus>& models) {
  const auto per_replica = [&](std::string_view name, std::string_view type, std::string_view help, auto value_of) {
    out.family(name, type, help);
    for (const ModelStatus& model : models) {
      if (!model.stats) continue;
      for (std::size_t i = 0; i < model.stats->replicas.size(); ++i) {
        out.sample(name, fmt::format("{},replica=\"{}\"", model_label(model.name), i),
                   uint64_t{value_of(model.stats->replicas[i])});
      }
    }
  };
  per_replica("inference_replica_slots_busy", "gauge", "Slots of the replica generating now.",
              [](const ReplicaStats& r) -> uint64_t { return r.slots_busy; });
  per_replica("inference_replica_serving", "gauge", "1 while the replica takes requests (not restarting or failed).",
              [](const ReplicaStats& r) -> uint64_t { return r.state == ReplicaState::serving ? 1 : 0; });
  per_replica("inference_replica_restarts_total", "counter", "Restarts of the replica's server in this load.",
              [](const ReplicaStats& r) -> uint64_t { return r.restarts; });
  per_replica("inference_replica_requests_total", "counter", "Requests admitted on the replica in this load.",
              [](const ReplicaStats& r) -> uint64_t { return r.requests_total; });
}

// The gauges and the restart counter, from the pool.
void render_models(Exposition& out, const std::vector<ModelStatus>& models) {
  const auto gauge = [&](std::string_view name, std::string_view type, std::string_view help, auto value_of) {
    out.family(name, type, help);
    for (const ModelStatus& model : models) out.sample(name, model_label(model.name), uint64_t{value_of(model)});
  };
  const auto stat = [](auto member) {
    return [member](const ModelStatus& model) -> uint64_t { return model.stats ? (*model.stats).*member : 0; };
  };
  gauge("inference_queue_depth", "gauge", "Requests waiting for a slot.", stat(&ModelStats::queue_depth));
  gauge("inference_slots_busy", "gauge", "Slots generating now.", stat(&ModelStats::slots_busy));
  gauge("inference_slots_total", "gauge", "Slots of the loaded model.", stat(&ModelStats::slots_total));
  gauge("inference_model_loaded", "gauge", "1 while the model is loaded.",
        [](const ModelStatus& model) -> uint64_t { return model.state == ModelState::loaded ? 1 : 0; });
  gauge("inference_model_in_flight", "gauge", "Requests holding the model.",
        [](const ModelStatus& model) -> uint64_t { return model.in_flight; });
  gauge("inference_restarts_total", "counter", "Server restarts over every load of the model.",
        [](const ModelStatus& model) -> uint64_t { return model.restarts_total; });
  gauge("inference_prefix_hits_total", "counter", "Requests placed on a slot that had processed their prompt's prefix.",
        stat(&ModelStats::prefix_hits));
  gauge("inference_affinity_hits_total", "counter", "Requests placed on their session's previous slot.",
        stat(&ModelStats::affinity_hits));
  render_replicas(out, models);
  out.family("inference_model_state", "gauge", "1 for the model's current state (unloaded, loading, loaded, failed).");
  for (const ModelStatus& model : models) {
    for (const ModelState state : {ModelState::unloaded, ModelState::loading, ModelState::loaded, ModelState::failed}) {
      out.sample("inference_model_state", fmt::format("{},state=\"{}\"", model_label(model.name), to_string(state)),
                 uint64_t{model.state == state ? 1u : 0u});
    }
  }
}

}  // namespace

std::string GatewayMetrics::render(const std::vector<ModelStatus>& models) const {
  Exposition out;
  out.family("inference_requests_total", "counter", "Finished requests by model, endpoint and outcome.");
  for (const auto& [key, count] : requests_) {
    const auto& [model, endpoint, outcome] = key;
    out.sample("inference_requests_total",
               fmt::format("{},endpoint=\"{}\",outcome=\"{}\"", model_label(model), escape_label(endpoint),
                           escape_label(outcome)),
               count);
  }
  out.family("inference_http_responses_total", "counter", "HTTP responses by status code.");
  for (const auto& [code, count] : http_responses_)
    out.sample("inference_http_responses_total", fmt::format("code=\"{}\"", code), count);

  // Every served model has its series from the start, and a name seen only in requests too.
  std::set<std::string, std::less<>> names;
  for (const ModelStatus& model : models) names.insert(model.name);
  for (const auto& [name, counts] : per_model_) names.insert(name);
  const PerModel none;
  const auto counts_of = [&](const std::string& name) -> const PerModel& {
    auto it = per_model_.find(name);
    return it == per_model_.end() ? none : it->second;
  };
  const auto counter = [&](std::string_view name, std::string_view help, uint64_t PerModel::*member) {
    out.family(name, "counter", help);
    for (const std::string& model : names) out.sample(name, model_label(model), counts_of(model).*member);
  };
  counter("inference_prompt_tokens_total", "Prompt tokens, as the backend counted them.", &PerModel::prompt_tokens);
  counter("inference_completion_tokens_total", "Generated tokens.", &PerModel::completion_tokens);
  counter("inference_cached_prompt_tokens_total", "Prompt tokens served from a slot's KV cache.",
          &PerModel::cached_prompt_tokens);
  const auto histogram = [&](std::string_view name, std::string_view help, Histogram PerModel::*member) {
    out.family(name, "histogram", help);
    for (const std::string& model : names) {
      const Histogram& h = counts_of(model).*member;
      render_histogram(out, name, model_label(model), h.buckets, h.count, h.sum);
    }
  };
  histogram("inference_time_to_first_token_seconds", "From the request to its first token.", &PerModel::ttft);
  histogram("inference_queue_wait_seconds", "Time spent waiting for a slot.", &PerModel::queue_wait);
  render_models(out, models);
  return std::move(out).take();
}

}  // namespace inference::gateway
