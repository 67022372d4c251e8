#include "bench_report.hpp"

#include <fmt/core.h>

#include <boost/json/array.hpp>
#include <string>

#include "replica_text.hpp"
#include "text_table.hpp"

namespace llmctl {

namespace {

constexpr double kMedian = 0.50;
constexpr double kTail = 0.99;

double per_second(double count, double seconds) { return seconds > 0.0 ? count / seconds : 0.0; }

double per_item_us(double seconds, uint64_t items) {
  return items == 0 ? 0.0 : seconds * 1e6 / static_cast<double>(items);
}

double share_percent(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

// What this run's streams reported from replica `index` (nothing when none ran there).
ReplicaTally tally_of(const BenchStats& stats, std::size_t index) {
  const auto found = stats.by_replica().find(static_cast<int32_t>(index));
  return found == stats.by_replica().end() ? ReplicaTally{} : found->second;
}

boost::json::array replicas_json(const BenchReport& report) {
  boost::json::array out;
  const auto& replicas = report.model_stats.replicas;
  for (std::size_t i = 0; i < replicas.size(); ++i) {
    const auto& replica = replicas[i];
    const auto tally = tally_of(report.stats, i);
    boost::json::object item;
    item["replica"] = i;
    item["state"] = inference::to_string(replica.state);
    item["device"] = replica.device;
    item["reason"] = replica.reason;
    item["slots"] = replica.slots_total;
    item["requests"] = replica.requests_total;
    item["max_in_flight"] = replica.max_in_flight;
    item["tokens"] = replica.tokens_served;
    item["restarts"] = replica.restarts;
    item["completed"] = tally.completed;
    item["errors"] = tally.errors;
    item["cached_prompt_tokens"] = tally.cached_prompt_tokens;
    out.push_back(std::move(item));
  }
  return out;
}

void add_placement_rows(const BenchReport& report, TextTable& table) {
  const auto& stats = report.stats;
  const auto& model = report.model_stats;
  table.add_row(
      {"prompt tokens", fmt::format("{} ({} cached, {:.1f}%)", stats.prompt_tokens(), stats.cached_prompt_tokens(),
                                    share_percent(stats.cached_prompt_tokens(), stats.prompt_tokens()))});
  table.add_row({"placement", fmt::format("{} prefix hits, {} affinity hits", model.prefix_hits, model.affinity_hits)});
  if (model.replicas.empty()) {
    table.add_row({"replicas", no_replicas_note(report.settings.backend)});
    return;
  }
  for (std::size_t i = 0; i < model.replicas.size(); ++i) {
    const auto tally = tally_of(stats, i);
    table.add_row(
        {fmt::format("replica {}", i),
         describe_replica(model.replicas[i]) + fmt::format("; this run: {} done, {} failed, {} cached prompt tokens",
                                                           tally.completed, tally.errors, tally.cached_prompt_tokens)});
  }
}

}  // namespace

double BenchReport::aggregate_tokens_per_s() const { return per_second(static_cast<double>(stats.tokens()), wall_s); }

boost::json::object to_json(const BenchReport& report) {
  const auto& settings = report.settings;
  const auto& stats = report.stats;
  boost::json::object errors_by_code;
  for (const auto& [name, count] : stats.errors_by_code()) errors_by_code[name] = count;

  boost::json::object out;
  out["backend"] = settings.backend;
  out["model"] = settings.model;
  out["requests"] = settings.requests;
  out["concurrency"] = settings.concurrency;
  out["slots"] = settings.slots;
  out["slots_total"] = report.model_stats.slots_total;
  out["max_tokens"] = settings.max_tokens;
  out["prompt_words"] = settings.prompt_words;
  out["shared_prefix_words"] = settings.shared_prefix_words;
  out["completed"] = stats.completed();
  out["errors"] = stats.errors();
  out["errors_by_code"] = std::move(errors_by_code);
  out["tokens"] = stats.tokens();
  out["load_ms"] = report.load_ms;
  if (report.server_listening_ms) {
    out["server_listening_ms"] = *report.server_listening_ms;
  } else {
    out["server_listening_ms"] = nullptr;
  }
  out["context_per_slot"] = report.context_per_slot;
  out["context_reason"] = report.context_reason;
  out["device"] = report.device;
  out["wall_s"] = report.wall_s;
  out["host_cpu_s"] = report.host_cpu_s;
  out["host_cpu_us_per_token"] = per_item_us(report.host_cpu_s, stats.tokens());
  out["host_cpu_us_per_request"] = per_item_us(report.host_cpu_s, stats.completed() + stats.errors());
  out["agg_tok_s"] = report.aggregate_tokens_per_s();
  out["req_s"] = per_second(static_cast<double>(stats.completed()), report.wall_s);
  out["ttft_ms_p50"] = percentile(stats.ttft_ms(), kMedian);
  out["ttft_ms_p99"] = percentile(stats.ttft_ms(), kTail);
  out["queue_ms_p50"] = percentile(stats.queue_ms(), kMedian);
  out["queue_ms_p99"] = percentile(stats.queue_ms(), kTail);
  out["total_ms_p50"] = percentile(stats.total_ms(), kMedian);
  out["total_ms_p99"] = percentile(stats.total_ms(), kTail);
  out["decode_tok_s_p50"] = percentile(stats.decode_tok_s(), kMedian);
  out["max_in_flight"] = report.model_stats.max_in_flight;
  out["requests_rejected"] = report.model_stats.requests_rejected;
  out["restarts"] = report.model_stats.restarts;
  out["prompt_tokens"] = stats.prompt_tokens();
  out["cached_prompt_tokens"] = stats.cached_prompt_tokens();
  out["prefix_hits"] = report.model_stats.prefix_hits;
  out["affinity_hits"] = report.model_stats.affinity_hits;
  out["replicas"] = replicas_json(report);
  return out;
}

void print_table(const BenchReport& report, std::FILE* out) {
  const auto& settings = report.settings;
  const auto& stats = report.stats;
  auto ms_pair = [](const std::vector<double>& samples) {
    return fmt::format("{:.2f} / {:.2f}", percentile(samples, kMedian), percentile(samples, kTail));
  };
  std::string errors = fmt::format("{}", stats.errors());
  for (const auto& [name, count] : stats.errors_by_code()) errors += fmt::format("  {}={}", name, count);

  TextTable table;
  table.add_row({"backend", settings.backend});
  table.add_row({"model", settings.model.empty() ? "(none)" : settings.model});
  table.add_row({"requests", fmt::format("{} ({} at a time, {} slots)", settings.requests, settings.concurrency,
                                         report.model_stats.slots_total)});
  if (settings.shared_prefix_words == 0) {
    table.add_row({"prompt / max tokens", fmt::format("{} words / {}", settings.prompt_words, settings.max_tokens)});
  } else {
    table.add_row({"prompt / max tokens", fmt::format("{} shared + {} own words / {}", settings.shared_prefix_words,
                                                      settings.prompt_words, settings.max_tokens)});
  }
  table.add_row({"completed", fmt::format("{}", stats.completed())});
  table.add_row({"errors", errors});
  table.add_row({"tokens", fmt::format("{}", stats.tokens())});
  if (report.server_listening_ms) {
    table.add_row({"load", fmt::format("{:.1f} ms (server listening at {:.1f} ms)", report.load_ms,
                                       *report.server_listening_ms)});
  } else {
    table.add_row({"load", fmt::format("{:.1f} ms", report.load_ms)});
  }
  if (!report.context_reason.empty()) {
    table.add_row({"context", report.context_reason + (report.device.empty() ? "" : "; on " + report.device)});
  }
  table.add_row({"wall", fmt::format("{:.3f} s", report.wall_s)});
  table.add_row({"host cpu", fmt::format("{:.3f} s ({:.1f} us per token, {:.1f} us per request)", report.host_cpu_s,
                                         per_item_us(report.host_cpu_s, stats.tokens()),
                                         per_item_us(report.host_cpu_s, stats.completed() + stats.errors()))});
  table.add_row({"throughput", fmt::format("{:.1f} tok/s, {:.2f} req/s", report.aggregate_tokens_per_s(),
                                           per_second(static_cast<double>(stats.completed()), report.wall_s))});
  table.add_row({"ttft p50 / p99", ms_pair(stats.ttft_ms()) + " ms"});
  table.add_row({"queue p50 / p99", ms_pair(stats.queue_ms()) + " ms"});
  table.add_row({"total p50 / p99", ms_pair(stats.total_ms()) + " ms"});
  table.add_row({"decode p50", fmt::format("{:.1f} tok/s per request", percentile(stats.decode_tok_s(), kMedian))});
  table.add_row({"max in flight",
                 fmt::format("{} of {} slots", report.model_stats.max_in_flight, report.model_stats.slots_total)});
  add_placement_rows(report, table);
  table.print(out);
}

}  // namespace llmctl
