#include "stub_model.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <set>

#include "inference/model_stats_from_pool.hpp"
#include "stub_embedding.hpp"
#include "stub_vocabulary.hpp"

namespace inference::stub {

namespace asio = boost::asio;

namespace {

// The ids logit_bias forbids (a bias of -infinity).
std::vector<int32_t> forbidden_ids(const GenerateConfig& config) {
  std::vector<int32_t> out;
  for (const LogitBias& entry : config.logit_bias) {
    if (std::isinf(entry.bias) && entry.bias < 0.0F) out.push_back(entry.token);
  }
  return out;
}

bool in_vocabulary(int32_t id) { return id >= 0 && static_cast<uint32_t>(id) < vocabulary_size(); }

Error outside_vocabulary(std::string_view what, int32_t id) {
  return Error(errc::invalid_argument, std::string(what) + " token " + std::to_string(id) +
                                           " is outside the stub vocabulary (ids 0.." +
                                           std::to_string(vocabulary_size() - 1) + ")");
}

// What the stub cannot do with a config that validate() accepts.
std::optional<Error> stub_refusal(const GenerateConfig& config) {
  if (!config.json_schema.empty() || !config.grammar.empty()) {
    return Error(
        errc::unsupported,
        "the stub backend cannot constrain output (GenerateConfig::json_schema, ::grammar): it has no sampler");
  }
  for (const LogitBias& entry : config.logit_bias) {
    if (!in_vocabulary(entry.token)) return outside_vocabulary("GenerateConfig::logit_bias", entry.token);
  }
  std::set<int32_t> forbidden_words;
  for (const int32_t id : forbidden_ids(config)) {
    if (!word_of(id).empty()) forbidden_words.insert(id);
  }
  if (forbidden_words.size() == vocabulary_size() - kFirstWordId) {
    return Error(errc::invalid_argument, "GenerateConfig::logit_bias forbids every word of the stub vocabulary");
  }
  return std::nullopt;
}

}  // namespace

StubModel::StubModel(asio::any_io_executor executor, std::string path, LoadOptions options, StubOptions stub)
    : executor_(std::move(executor)),
      path_(std::move(path)),
      options_(std::move(options)),
      stub_(stub),
      pool_(SlotPoolOptions{.slots = options_.parallel_slots, .queue_limit = options_.queue_limit}) {}

TokenStream StubModel::generate(std::string prompt, GenerateConfig config) {
  if (auto invalid = validate_for_prompt(config)) return failed_stream(*invalid);
  if (auto refused = stub_refusal(config)) return failed_stream(*refused);
  if (closed_.load(std::memory_order_relaxed)) return failed_stream(make_error_code(errc::closed), "stub model");
  StreamOptions stream(options_.stream_buffer_tokens, config);
  return spawn_stream(executor_, stream,
                      [self = shared_from_this(), prompt = std::move(prompt),
                       config = std::move(config)](StreamWriter& writer) { return self->run(writer, prompt, config); });
}

TokenStream StubModel::chat(std::vector<Message> messages, GenerateConfig config) {
  // The stub's "chat template": one "role: content" line per message, then the reply's cue.
  std::string prompt;
  for (const auto& m : messages) prompt += m.role + ": " + m.content + "\n";
  prompt += "assistant:";
  return generate(std::move(prompt), std::move(config));
}

TokenStream StubModel::generate_tokens(std::vector<int32_t> prompt, GenerateConfig config) {
  if (prompt.empty()) {
    return failed_stream(Error(errc::invalid_argument, "generate_tokens(): the prompt has no tokens"));
  }
  for (const int32_t id : prompt) {
    if (!in_vocabulary(id)) return failed_stream(outside_vocabulary("generate_tokens() prompt", id));
  }
  return generate(detokenize_words(prompt), std::move(config));
}

void StubModel::throw_if_closed(std::string_view what) const {
  if (closed_.load(std::memory_order_relaxed)) throw Error(errc::closed, "stub model: " + std::string(what));
}

asio::awaitable<std::vector<Token>> StubModel::tokenize(std::string text, bool add_special) {
  throw_if_closed("tokenize()");
  co_return tokenize_words(text, add_special);
}

asio::awaitable<std::string> StubModel::detokenize(std::vector<int32_t> ids) {
  throw_if_closed("detokenize()");
  for (const int32_t id : ids) {
    if (!in_vocabulary(id)) throw outside_vocabulary("detokenize()", id);
  }
  co_return detokenize_words(ids);
}

asio::awaitable<FinishReason> StubModel::run(StreamWriter& writer, std::string prompt, GenerateConfig config) {
  writer.queued();
  SlotLease lease = co_await pool_.acquire(SlotRequest(config.session, config.priority.value_or(0)));
  writer.admitted(lease.waited());
  writer.prompt_evaluated(count_words(prompt));

  // The stub's simulated latencies (StubOptions::prefill_delay, token_delay, hang_after_tokens):
  // what it imitates, not a poll.
  std::optional<asio::steady_timer> timer;
  auto pause = [&](asio::steady_timer::duration d) -> asio::awaitable<void> {
    if (!timer) timer.emplace(co_await asio::this_coro::executor);
    timer->expires_after(d);
    co_await timer->async_wait(asio::use_awaitable);
  };
  if (stub_.prefill_delay.count() > 0) co_await pause(stub_.prefill_delay);

  const uint64_t epoch = crash_epoch_.load(std::memory_order_acquire);
  const uint64_t seed = sequence_seed(prompt, config.seed.value_or(0));
  const auto max_tokens = static_cast<uint64_t>(std::max(config.effective_max_tokens(), 0));
  const std::vector<int32_t> forbidden = forbidden_ids(config);
  for (uint64_t i = 0; i < max_tokens; ++i) {
    if (closed_.load(std::memory_order_relaxed)) throw Error(errc::closed, "stub model closed");
    if (crash_epoch_.load(std::memory_order_acquire) != epoch) {
      throw Error(errc::child_exited, "stub server crashed (crash_after_tokens)");
    }
    if (stub_.fail_after_tokens && i == *stub_.fail_after_tokens) {
      throw Error(stub_.fail_code, "stub failure after " + std::to_string(i) + " tokens (fail_after_tokens)",
                  stub_.fail_detail);
    }
    if (stub_.hang_after_tokens && i == *stub_.hang_after_tokens) {
      co_await pause(asio::steady_timer::duration::max());  // until cancelled or the deadline
    }
    if (stub_.token_delay.count() > 0) co_await pause(stub_.token_delay);
    Token token = allowed_token_at(seed, i, forbidden);
    const bool stop =
        std::find(config.stop_tokens.begin(), config.stop_tokens.end(), token.id) != config.stop_tokens.end();
    if (stop) co_return FinishReason::stop;
    co_await writer.push(std::move(token));
    count_token();
  }
  co_return FinishReason::length;
}

void StubModel::count_token() {
  const uint64_t served = tokens_served_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (stub_.crash_after_tokens && served == *stub_.crash_after_tokens) {
    crash_epoch_.fetch_add(1, std::memory_order_acq_rel);
  }
}

ModelInfo StubModel::info() const {
  ModelInfo info;
  info.path = path_;
  info.architecture = "stub";
  info.name = "stub";
  info.file_type = "none";
  info.context_length = options_.context_len == 0 ? 4096 : options_.context_len;
  info.vocab_size = vocabulary_size();
  info.tokenizer_model = "stub";
  info.embedding_length = kEmbeddingLength;
  return info;
}

ModelStats StubModel::stats() const {
  ModelStats stats = model_stats_from_pool(pool_.stats());
  stats.tokens_served = tokens_served_.load(std::memory_order_relaxed);
  return stats;  // never restarts, never fails
}

asio::awaitable<void> StubModel::close() {
  closed_.store(true, std::memory_order_relaxed);
  pool_.close(make_error_code(errc::closed), "stub model closed");
  co_return;
}

}  // namespace inference::stub
