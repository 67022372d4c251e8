// StubModel: a deterministic TextModel with no GPU and no server, multiplexed over the core
// SlotPool exactly like a real backend. The test double for the core and the baseline for
// measuring the core's own overhead.
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
  ModelInfo info() const override;
  std::string model_type() const override { return "stub"; }
  ModelStats stats() const override;
  boost::asio::awaitable<void> close() override;

 private:
  boost::asio::awaitable<FinishReason> run(StreamWriter& writer, std::string prompt, GenerateConfig config);
  void count_token();

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
