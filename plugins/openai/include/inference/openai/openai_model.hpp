// OpenAiModel: a TextModel whose tokens come from a remote OpenAI-compatible server (a fleet of
// llama-servers, vLLM, another `llmctl serve`): generate() streams POST /completions, chat()
// POST /chat/completions, both with SSE. The runtime's own contract holds as for a local model:
// at most max_in_flight requests run remotely at once (a SlotPool, with its bounded queue and
// priorities), deadlines and timeouts cover the queue and the generation, cancelling a stream
// closes its HTTP connection (the remote stops generating), errors are typed (remote_error.hpp).
//
// Retries (retry_policy.hpp): a request that failed before its first token is sent again after a
// backoff (connection failures, 5xx) or the server's Retry-After (429), within `retries`; after
// the first token a failure ends the stream.
//
// Token ids: the OpenAI protocol streams text, not ids, so every Token's id is 0 (except with
// protocol=llama-server, whose generate() streams llama-server's own ids) and each Token
// is one event's token text (remote_chunk.hpp: one per generated token from llama-server, an
// empty text included; usage.completion_tokens gives the server's count in the metrics). stop_tokens, logprobs,
// constrained output and tools are refused with Error(unsupported) (request_body.hpp). tokenize(), embed() and the like
// are unsupported.
//
// Ownership: shared (std::shared_ptr); streams keep it alive. It owns its connections.
// Thread-safety: every member function may be called from any thread.
// Cancellation: as TextModel (text_model.hpp). close() ends running requests with Error(closed)
// by closing their connections, fails queued ones, and waits (bounded by kCloseGrace) until every
// request has let go of its slot.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <memory>

#include "inference/context_lifetime.hpp"
#include "inference/load_options.hpp"
#include "inference/openai/connection_pool.hpp"
#include "inference/openai/remote_options.hpp"
#include "inference/slot_pool.hpp"
#include "inference/stream_producer.hpp"
#include "inference/text_model.hpp"

namespace inference::openai {

class AbortRegistry;
struct AbortHandle;

// Aborting a request closes a socket, and the request unwinds in microseconds; the bound only
// guards close() against a request stuck where cancellation does not reach (name resolution).
inline constexpr std::chrono::seconds kCloseGrace{5};

class OpenAiModel final : public TextModel, public std::enable_shared_from_this<OpenAiModel> {
 public:
  // `endpoint` holds what every connection needs (URL, TLS context, key); `options` the rest.
  OpenAiModel(boost::asio::any_io_executor executor, RemoteOptions options,
              std::shared_ptr<const RemoteEndpoint> endpoint, std::size_t stream_buffer_tokens);
  ~OpenAiModel() override;

  TokenStream generate(std::string prompt, GenerateConfig config) override;
  TokenStream chat(std::vector<Message> messages, GenerateConfig config) override;
  ModelInfo info() const override;
  std::string model_type() const override { return "remote"; }
  ModelStats stats() const override;
  boost::asio::awaitable<void> close() override;

  // Connections opened so far (reconnects included), for tests of keep-alive.
  std::uint64_t connections_created() const { return connections_.created(); }

 private:
  struct Request;

  TokenStream start(std::shared_ptr<const Request> request);
  boost::asio::awaitable<FinishReason> run(StreamWriter& writer, std::shared_ptr<const Request> request);
  boost::asio::awaitable<FinishReason> run_attempts(StreamWriter& writer, const Request& request, AbortHandle& handle);
  boost::asio::awaitable<FinishReason> attempt(StreamWriter& writer, const Request& request, AbortHandle& handle,
                                               std::uint64_t& delivered);

  boost::asio::any_io_executor executor_;
  RemoteOptions options_;
  std::shared_ptr<const RemoteEndpoint> endpoint_;
  std::size_t stream_buffer_tokens_;
  SlotPool pool_;
  ConnectionPool connections_;
  std::unique_ptr<AbortRegistry> aborts_;
  std::atomic<std::uint64_t> tokens_served_{0};
  std::atomic<bool> closed_{false};
  // Last: destroyed first, so its callback never runs on a half-destroyed model.
  ContextLifetime context_;
};

}  // namespace inference::openai
