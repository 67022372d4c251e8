// LlamaServerModel: a TextModel served by one or more supervised llama-server processes
// (replicas, e.g. one per GPU). Requests are multiplexed over all their slots by the core
// SlotPool (one request per slot, pinned with id_slot so that session affinity and the prompt
// prefix placement reuse the slot's KV cache), streamed from /completion with real token ids,
// and ended by closing their connection when cancelled (llama-server then stops the task). A
// slot is handed to the next request only once the server reports it idle.
//
// Crashes: a request whose server exits fails with child_exited (exit status and the server's
// last output); that replica takes no new requests until it is restarted, and queued requests
// go to the other replicas (or wait for the restart when there is none). A stalled request marks
// the server hung: it is killed, its requests fail with child_hung, and it is restarted (see
// ServerSupervisor for the budget, which is per replica). The model fails (model_failed) only
// when every replica has failed. A replica whose device is gone (ReplicaLaunch::device_gone) is
// failed with device_lost instead of restarted. A server split over RPC workers (the rpc option)
// that dies under a request because a worker stopped answering fails it with
// backend_unavailable naming the worker (ReplicaLaunch::remote_gone).
//
// reload(): replaces the replicas one at a time (see TextModel::reload).
//
// tokenize() and detokenize() (llama_server_model_tokens.cpp) ask a serving replica's server on a
// connection of their own: they take no slot, do not queue behind generations and are not
// watched by the stall watchdog. Each call is bounded (kMaxTokenizeBytes of text,
// kMaxDetokenizeIds ids); a server that dies under one fails it (call again).
//
// Ownership: shared; streams keep the model alive. close() terminates the server and waits for
// the supervision to end; destroying the model without close() kills and reaps the server at
// once. The server is supervised on the engine's own thread (supervision_context.hpp), so an
// idle model is no outstanding work on the host's io_context. The model may outlive that
// io_context (a global, say): its server is stopped synchronously when the io_context is
// destroyed, and later requests fail with closed.
// Thread-safety: as TextModel: every member may be called from any thread. Streams run on
// strands of the executor the model was loaded on.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string_view>

#include "inference/context_lifetime.hpp"
#include "inference/error.hpp"
#include "inference/llama_server/completion_request.hpp"
#include "inference/llama_server/engine_options.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/launch_spec.hpp"
#include "inference/llama_server/model_launch.hpp"
#include "inference/llama_server/replica_set.hpp"
#include "inference/llama_server/server_supervisor.hpp"
#include "inference/load_options.hpp"
#include "inference/slot_pool.hpp"
#include "inference/stream_producer.hpp"
#include "inference/text_model.hpp"

namespace inference::llama_server {

// How long a failed request waits for its server's exit to be observed before deciding that
// the failure was not a crash: the exit is normally seen within a millisecond of the socket
// closing, and streams must learn of a crash within 100 ms.
inline constexpr std::chrono::milliseconds kExitConfirmWindow{50};
// When the window passed but the kernel already reports the child dead (a loaded machine, or
// the output drain after the exit), how much longer to wait for the exit to be observed so the
// request still reports child_exited with the exit status instead of a bare connection error.
inline constexpr std::chrono::milliseconds kExitObserveTimeout{2'000};
// close() with requests that may hold a task on the server: SIGKILL straight after SIGTERM,
// because llama-server would not act on SIGTERM before the task ends (see close()).
inline constexpr std::chrono::milliseconds kNoShutdownGrace{0};
// tokenize() refuses more text than this per call, detokenize() more ids (Error(invalid_argument)):
// a bound on what one call sends and receives (the answer has a few tens of bytes per token).
inline constexpr std::size_t kMaxTokenizeBytes = std::size_t{1} << 20;
inline constexpr std::size_t kMaxDetokenizeIds = std::size_t{1} << 20;
// How often /slots is asked whether a cancelled request's slot is free again: llama-server has
// no event for it, so this is the engine's one poll (see wait_slot_idle()).
inline constexpr std::chrono::milliseconds kSlotPollInterval{2};

class LlamaServerModel final : public TextModel, public std::enable_shared_from_this<LlamaServerModel> {
 public:
  // Validates the model file with the GGUF reader (model_not_found / invalid_model in
  // milliseconds, before anything is spawned), finds and probes the server binary, starts the
  // servers (the `replicas` engine option: plain_model_launch()) and waits until every one
  // serves with the asked slots and context. `extra_option_keys` are backend_options the caller
  // handles itself (not engine options).
  static boost::asio::awaitable<std::shared_ptr<LlamaServerModel>> load(
      std::string path, LoadOptions options, LaunchCustomizer customize = {},
      std::vector<std::string> extra_option_keys = {});
  // The same with a backend's own plan (devices per replica); the planner is kept for reload().
  // A replica that fails to start fails the load, and the replicas already started are stopped.
  static boost::asio::awaitable<std::shared_ptr<LlamaServerModel>> load_planned(
      std::string path, LoadOptions options, LaunchPlanner planner, std::vector<std::string> extra_option_keys = {});

  struct Private {};  // construction goes through load(), which starts the replicas
  LlamaServerModel(Private, boost::asio::any_io_executor executor, LaunchPlanner planner,
                   std::vector<std::string> extra_option_keys, const ModelLaunch& launch, EngineOptions engine);
  ~LlamaServerModel() override;

  TokenStream generate(std::string prompt, GenerateConfig config) override;
  TokenStream chat(std::vector<Message> messages, GenerateConfig config) override;
  // Embeddings and reranking (llama_server_model_embeddings.cpp), for a model loaded with the
  // embeddings or reranking backend option: one /v1/embeddings or /rerank request per input,
  // all admitted at once through the slot pool like generations (queue_limit, priority 0).
  // embed() refuses a server whose pooling is none (one vector per token) with unsupported.
  boost::asio::awaitable<std::vector<Embedding>> embed(std::vector<std::string> inputs) override;
  boost::asio::awaitable<std::vector<RerankScore>> rerank(std::string query,
                                                          std::vector<std::string> documents) override;
  TokenStream generate_tokens(std::vector<int32_t> prompt, GenerateConfig config) override;
  boost::asio::awaitable<std::vector<Token>> tokenize(std::string text, bool add_special) override;
  boost::asio::awaitable<std::string> detokenize(std::vector<int32_t> ids) override;
  ModelInfo info() const override;
  std::string model_type() const override;
  ModelStats stats() const override;
  boost::asio::awaitable<void> reload(std::string path, LoadOptions options) override;
  boost::asio::awaitable<void> close() override;

  uint32_t replica_count() const noexcept;
  // The replica's running server's pid (0 while restarting); for tests and diagnostics.
  int server_pid(uint32_t replica = 0) const;
  // Where the replica's running server listens, with its key (std::nullopt while restarting);
  // for tests and diagnostics.
  std::optional<ServerEndpoint> server_endpoint(uint32_t replica = 0) const;

 private:
  struct Request;
  struct Exchange;   // one request's hold on a server
  struct StreamEnd;  // how a token stream ended
  // What reload() replaces; requests take a snapshot (settings()) when they start.
  struct Settings {
    ModelInfo info;
    LoadOptions options;
    EngineOptions engine;
  };
  std::shared_ptr<const Settings> settings() const;

  // Loading and reloading (llama_server_model_replicas.cpp): start every replica, replace one.
  boost::asio::awaitable<void> start_replicas(const std::string& path, const ModelLaunch& launch,
                                              const EngineOptions& engine);
  boost::asio::awaitable<void> start_replica(uint32_t index, LaunchSpec spec, const ReplicaLaunch& launch,
                                             const EngineOptions& engine, const LoadOptions& options);
  boost::asio::awaitable<void> replace_replica(uint32_t index, LaunchSpec spec, const ReplicaLaunch& launch,
                                               const EngineOptions& engine, const LoadOptions& options);
  boost::asio::awaitable<void> stop_supervisors(std::vector<std::shared_ptr<ServerSupervisor>> supervisors,
                                                std::chrono::milliseconds grace);

  TokenStream start(std::shared_ptr<Request> request);
  // One request, as named steps (llama_server_model.cpp): place() (a slot on a serving replica
  // and a connection to it), render_prompt() for chat, request_params(), stream_tokens(), and
  // end_unfinished() when the server's final chunk did not come.
  boost::asio::awaitable<FinishReason> run(StreamWriter& writer, std::shared_ptr<Request> request);
  boost::asio::awaitable<SlotLease> place(StreamWriter& writer, const Request& request,
                                          std::optional<Exchange>& exchange);
  boost::asio::awaitable<SlotLease> acquire_slot(const SlotRequest& wanted);
  void throw_if_closing() const;
  boost::asio::awaitable<void> connect(Exchange& exchange);
  boost::asio::awaitable<std::string> render_prompt(const Request& request, HttpConnection& connection);
  boost::asio::awaitable<StreamEnd> stream_tokens(StreamWriter& writer, Exchange& exchange,
                                                  const CompletionParams& params, const GenerateConfig& config);
  boost::asio::awaitable<FinishReason> end_unfinished(StreamWriter& writer, Exchange& exchange, uint32_t slot,
                                                      StreamEnd end);
  // A dead server's request fails with child_exited or child_hung, or with backend_unavailable
  // naming the remote part (an RPC worker) that stopped answering (SupervisorEvents::remote_gone).
  boost::asio::awaitable<std::optional<Error>> failure_cause(bool cancelled, const ServerSupervisor& supervisor,
                                                             const ServerInstance& instance, std::error_code failure);
  // A failure_cause() that means the request's server is dead.
  static bool server_died(const Error& cause) {
    return cause.is(errc::child_exited) || cause.is(errc::child_hung) || cause.is(errc::backend_unavailable);
  }
  // Embeddings and reranking: generate() refused on a model loaded for them; each body POSTed
  // to `target` on a slot of its own, all at once, the answers in the order of the bodies;
  // `what` names an item in errors ("embed() input").
  std::optional<Error> refuse_generation() const;
  boost::asio::awaitable<std::vector<std::string>> post_each(std::string target, std::vector<std::string> bodies,
                                                             std::string what);
  boost::asio::awaitable<std::vector<std::string>> run_all(std::vector<std::string> bodies, std::string target,
                                                           std::string what);
  boost::asio::awaitable<std::string> post_one(const std::string& target, const std::string& body, std::string item);
  boost::asio::awaitable<void> wait_slot_idle(const ServerInstance& instance, uint32_t slot);
  boost::asio::awaitable<std::optional<ExitStatus>> confirm_exit(const ServerInstance& instance);
  // tokenize() and detokenize() (llama_server_model_tokens.cpp): a serving replica's server, and
  // one request to it on a connection of its own, returning the 200 answer's body.
  boost::asio::awaitable<std::shared_ptr<ServerInstance>> any_serving_instance();
  boost::asio::awaitable<std::string> ask_any_server(std::string_view what, std::string_view target, std::string body,
                                                     std::size_t max_answer_bytes);

  boost::asio::any_io_executor executor_;
  const LaunchPlanner planner_;
  const std::vector<std::string> extra_option_keys_;
  mutable std::mutex settings_mutex_;
  std::shared_ptr<const Settings> settings_;  // settings_mutex_
  const std::shared_ptr<ReplicaSet> replicas_;
  std::atomic<uint64_t> tokens_served_{0};
  std::atomic<bool> closed_{false};
  std::atomic<bool> reloading_{false};
  std::atomic<int> requests_at_server_{0};       // requests that may have a task on a server
  std::atomic<uint32_t> next_token_replica_{0};  // tokenize()/detokenize() spread over the replicas
  // Last, so it unregisters first: when the executor's context is destroyed before the model,
  // the servers are killed and reaped, and the model lets go of that executor and refuses new
  // requests.
  ContextLifetime context_;
};

}  // namespace inference::llama_server
