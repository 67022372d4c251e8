#include "stub_model.hpp"

#include <algorithm>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "inference/model_stats_from_pool.hpp"
#include "stub_embedding.hpp"
#include "stub_vocabulary.hpp"

namespace inference::stub {

namespace asio = boost::asio;

namespace {

uint64_t count_words(const std::string& text) {
  uint64_t words = 0;
  bool in_word = false;
  for (char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
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
    Token token = token_at(seed, i);
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
