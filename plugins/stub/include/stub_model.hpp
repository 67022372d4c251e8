// StubModel: a deterministic TextModel with no GPU and no server, multiplexed over the core
// SlotPool exactly like a real backend. The test double for the core and the baseline for
// measuring the core's own overhead.
//
// Tokens in and out (stub_vocabulary.hpp): tokenize() and detokenize() use the stub's word list
// and never suspend (there is no server; nothing to wait for); generate_tokens(ids) generates as
// generate() does for the ids' text, so generate_tokens(tokenize(t, true)) == generate(t) for
// text of the list's words. logit_bias: a bias of -infinity forbids the word (the next allowed
// word of the list comes instead); finite biases change nothing (the stub has no logits).
// json_schema and grammar are refused with Error(unsupported): there is no sampler to constrain.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <memory>

#include "inference/load_options.hpp"
#include "inference/slot_pool.hpp"
#include "inference/stream_producer.hpp"
#include "inference/text_model.hpp"
#include "stub_options.hpp"

namespace inference::stub {

class StubModel final : public TextModel, public std::enable_shared_from_this<StubModel> {
 public:
  StubModel(boost::asio::any_io_executor executor, std::string path, LoadOptions options, StubOptions stub);

  TokenStream generate(std::string prompt, GenerateConfig config) override;
  TokenStream chat(std::vector<Message> messages, GenerateConfig config) override;
  // A deterministic vector per input (stub_embedding.hpp), each input on a slot of the pool in turn.
  boost::asio::awaitable<std::vector<Embedding>> embed(std::vector<std::string> inputs) override;
  TokenStream generate_tokens(std::vector<int32_t> prompt, GenerateConfig config) override;
  boost::asio::awaitable<std::vector<Token>> tokenize(std::string text, bool add_special) override;
  boost::asio::awaitable<std::string> detokenize(std::vector<int32_t> ids) override;
  ModelInfo info() const override;
  std::string model_type() const override { return "stub"; }
  ModelStats stats() const override;
  boost::asio::awaitable<void> close() override;

 private:
  boost::asio::awaitable<FinishReason> run(StreamWriter& writer, std::string prompt, GenerateConfig config);
  void count_token();
  void throw_if_closed(std::string_view what) const;

  boost::asio::any_io_executor executor_;
  std::string path_;
  LoadOptions options_;
  StubOptions stub_;
  SlotPool pool_;
  std::atomic<uint64_t> tokens_served_{0};
  std::atomic<uint64_t> crash_epoch_{0};
  std::atomic<bool> closed_{false};
};

}  // namespace inference::stub
