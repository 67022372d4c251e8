#include "inference/llama_server/llama_server_model.hpp"

#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <optional>

#include "inference/error.hpp"
#include "inference/gguf/model_info_reader.hpp"
#include "inference/llama_server/apply_template_request.hpp"
#include "inference/llama_server/chunk_tokens.hpp"
#include "inference/llama_server/completion_chunk.hpp"
#include "inference/llama_server/completion_request.hpp"
#include "inference/llama_server/completion_stream.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/request_params.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "inference/llama_server/server_error.hpp"
#include "inference/llama_server/server_slots.hpp"
#include "inference/llama_server/server_version_cache.hpp"
#include "inference/llama_server/sse_parser.hpp"
#include "inference/model_stats_from_pool.hpp"
#include "supervision_context.hpp"

namespace inference::llama_server {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

// Counts a request from before it may reach the server until the server is done with it (its
// slot idle again), for close().
class AtServer {
 public:
  explicit AtServer(std::atomic<int>& count) : count_(count) { count_.fetch_add(1); }
  AtServer(const AtServer&) = delete;
  AtServer& operator=(const AtServer&) = delete;
  ~AtServer() { count_.fetch_sub(1); }

 private:
  std::atomic<int>& count_;
};

// Connects; a failure other than cancellation is returned, for the caller to judge.
asio::awaitable<std::exception_ptr> try_connect(HttpConnection& connection) {
  try {
    co_await connection.connect();
  } catch (const Error& e) {
    if (e.is(errc::cancelled)) throw;
    co_return std::current_exception();
  }
  co_return nullptr;
}

void check_load_options(const LoadOptions& options) {
  if (options.parallel_slots == 0) throw Error(errc::invalid_argument, "parallel_slots must be at least 1");
}

}  // namespace

struct LlamaServerModel::Request {
  std::string prompt;                 // generate()
  std::vector<ChatMessage> messages;  // chat(), rendered with the server's template
  bool is_chat = false;
  GenerateConfig config;
};

// One request's hold on a server, in run()'s frame on the request's strand: the instance it
// reached, its registration with the supervisor (the stall watchdog, close()'s abort) and its
// connection. Members go in reverse order: the connection first, then the at-server count, the
// registration and the instance. close() may end the request from another thread at any moment:
// the abort hops onto the strand and closes the connection while it exists (cleared here, on the
// same strand).
struct LlamaServerModel::Exchange {
  struct AbortTarget {
    HttpConnection* connection = nullptr;
  };

  explicit Exchange(asio::any_io_executor strand) : executor(std::move(strand)) {}
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;
  ~Exchange() { abort_target->connection = nullptr; }

  // What close() calls, from any thread, to end this request.
  std::function<void()> abort() const {
    return [target = abort_target, strand = executor] {
      asio::post(strand, [target] {
        if (target->connection) target->connection->close();
      });
    };
  }

  const asio::any_io_executor executor;
  const std::shared_ptr<AbortTarget> abort_target = std::make_shared<AbortTarget>();
  std::shared_ptr<ServerInstance> instance;
  std::unique_ptr<ServerSupervisor::Activity> activity;
  std::optional<AtServer> at_server;
  std::optional<HttpConnection> connection;
};

// How a token stream ended, as stream_tokens() saw it; judged once, by end_unfinished().
// Neither set: a stop token ended it here, and the server's task must be cancelled.
struct LlamaServerModel::StreamEnd {
  std::optional<FinishReason> finished;  // the server sent its final chunk
  std::exception_ptr failure;            // reading or delivering failed (always an Error)
  std::error_code failure_code;
};

asio::awaitable<std::shared_ptr<LlamaServerModel>> LlamaServerModel::load(std::string path, LoadOptions options,
                                                                          LaunchCustomizer customize,
                                                                          std::vector<std::string> extra_option_keys) {
  // Cheap checks first: a missing or corrupt model fails in milliseconds, before any spawn.
  check_load_options(options);
  ModelInfo info = gguf::read_model_info(path);
  co_return co_await load(std::move(path), std::move(info), std::move(options), std::move(customize),
                          std::move(extra_option_keys));
}

asio::awaitable<std::shared_ptr<LlamaServerModel>> LlamaServerModel::load(std::string path, ModelInfo info,
                                                                          LoadOptions options,
                                                                          LaunchCustomizer customize,
                                                                          std::vector<std::string> extra_option_keys) {
  check_load_options(options);
  const EngineOptions engine = parse_engine_options(options.backend_options, extra_option_keys);
  const auto binary = find_server_binary(explicit_server_path(options));
  const ServerVersion version = co_await probe_server_version_cached(binary);

  LaunchSpec spec;
  spec.binary = binary;
  spec.features = version.features;
  spec.model_path = path;
  spec.slots = options.parallel_slots;
  spec.context_per_slot = options.context_len;
  spec.gpu_layers = options.gpu_layers < 0 ? kAllGpuLayers : options.gpu_layers;
  if (!options.chat_template.empty()) spec.chat_template = options.chat_template;
  spec.extra_args = engine.server_args;
  spec.transport = engine.transport;
  spec.port = engine.port;
  if (customize) customize(spec);

  auto executor = co_await asio::this_coro::executor;
  ServerProcessOptions process_options;
  process_options.log_sink = options.child_log;
  // Supervised on the engine's own thread: an idle model is no work on the host's io_context,
  // and the server outlives whichever host thread loaded it (see supervision_context.hpp).
  auto supervisor = std::make_shared<ServerSupervisor>(detail::SupervisionContext::instance().executor(), spec, engine,
                                                       std::move(process_options));
  co_await supervisor->start();
  co_return std::make_shared<LlamaServerModel>(executor, std::move(info), std::move(options), engine,
                                               std::move(supervisor));
}

LlamaServerModel::LlamaServerModel(asio::any_io_executor executor, ModelInfo info, LoadOptions options,
                                   EngineOptions engine, std::shared_ptr<ServerSupervisor> supervisor)
    : executor_(std::move(executor)),
      info_(std::move(info)),
      options_(std::move(options)),
      engine_(engine),
      supervisor_(std::move(supervisor)),
      pool_(SlotPoolOptions{options_.parallel_slots, options_.queue_limit}),
      context_(executor_, [this] {
        // Nothing can run on that executor any more: the model is done for, so its server goes
        // now rather than when the last reference does. And the executor may be a strand,
        // which must not outlive its context.
        supervisor_->stop_now();
        executor_ = asio::any_io_executor();
      }) {}

LlamaServerModel::~LlamaServerModel() { supervisor_->stop_now(); }

TokenStream LlamaServerModel::generate(std::string prompt, GenerateConfig config) {
  auto request = std::make_shared<Request>();
  request->prompt = std::move(prompt);
  request->config = std::move(config);
  return start(std::move(request));
}

TokenStream LlamaServerModel::chat(std::vector<Message> messages, GenerateConfig config) {
  auto request = std::make_shared<Request>();
  request->is_chat = true;
  request->messages.reserve(messages.size());
  for (auto& m : messages) request->messages.push_back(ChatMessage{std::move(m.role), std::move(m.content)});
  request->config = std::move(config);
  return start(std::move(request));
}

TokenStream LlamaServerModel::start(std::shared_ptr<Request> request) {
  if (auto invalid = validate(request->config)) return failed_stream(*invalid);
  if (closed_.load()) return failed_stream(make_error_code(errc::closed), "llama-server model");
  if (context_.shut_down()) {
    return failed_stream(make_error_code(errc::closed), "llama-server model: its io_context was destroyed");
  }
  StreamOptions stream(options_.stream_buffer_tokens, request->config);
  return spawn_stream(executor_, stream, [self = shared_from_this(), request](StreamWriter& writer) {
    return self->run(writer, request);
  });
}

asio::awaitable<FinishReason> LlamaServerModel::run(StreamWriter& writer, std::shared_ptr<Request> request) {
  const GenerateConfig& config = request->config;
  writer.queued();
  SlotLease lease = co_await pool_.acquire(SlotRequest(config.session, config.priority.value_or(0)));
  writer.admitted(lease.waited());

  Exchange exchange(co_await asio::this_coro::executor);
  co_await connect(exchange);
  std::string prompt = request->prompt;
  if (request->is_chat) prompt = co_await render_prompt(*request, *exchange.connection);
  const CompletionParams params = request_params(config, std::move(prompt), lease.slot(), engine_);
  StreamEnd end = co_await stream_tokens(writer, exchange, params, config);
  if (end.finished) co_return *end.finished;
  co_return co_await end_unfinished(writer, exchange, lease.slot(), std::move(end));
}

// HttpConnection reconnects a closed connection on its next request, so an abort that came
// between two steps would be undone: every step that sends checks first (same strand step).
void LlamaServerModel::throw_if_closing() const {
  if (closed_.load()) throw Error(errc::closed, "llama-server model closed before the request was sent");
}

// Registered with the supervisor before anything reaches the server, which also lets the stall
// watchdog notice a server that hangs while a request connects. A server that died before this
// request reached it never saw the request: wait for its successor instead of failing (queued
// requests continue across a crash).
asio::awaitable<void> LlamaServerModel::connect(Exchange& exchange) {
  for (;;) {
    exchange.instance = co_await supervisor_->acquire_instance();
    exchange.activity = supervisor_->track(exchange.instance, exchange.abort());
    if (!exchange.at_server) exchange.at_server.emplace(requests_at_server_);
    // close() sets closed_ before it aborts the registered requests: either this sees it, or
    // the abort finds the connection made below (nothing in between suspends). So no request
    // reaches a server that is being stopped, which llama-server would run to the end first.
    throw_if_closing();
    exchange.connection.emplace(exchange.executor, exchange.instance->process->endpoint());
    exchange.abort_target->connection = &*exchange.connection;
    const std::exception_ptr failure = co_await try_connect(*exchange.connection);
    if (!failure) co_return;
    exchange.abort_target->connection = nullptr;
    const std::optional<ExitStatus> exited = co_await confirm_exit(*exchange.instance);
    if (!exited || exchange.instance->stopping.load()) std::rethrow_exception(failure);
  }
}

// chat(): the messages rendered with the server's own template.
asio::awaitable<std::string> LlamaServerModel::render_prompt(const Request& request, HttpConnection& connection) {
  throw_if_closing();
  const auto rendered =
      co_await connection.request(HttpMethod::post, "/apply-template", apply_template_request_body(request.messages));
  co_return parse_apply_template_response(rendered.body);
}

// Delivers the generated tokens until the server's final chunk, a stop token, or a failure,
// which is returned rather than thrown: the server may still hold the task (end_unfinished()).
asio::awaitable<LlamaServerModel::StreamEnd> LlamaServerModel::stream_tokens(StreamWriter& writer, Exchange& exchange,
                                                                             const CompletionParams& params,
                                                                             const GenerateConfig& config) {
  StreamEnd end;
  ChunkTokens tokens(config.stop_tokens);
  uint64_t delivered = 0;  // Tokens pushed to the reader
  try {
    throw_if_closing();
    co_await exchange.connection->start_stream(HttpMethod::post, "/completion", completion_request_body(params));
    CompletionStreamReader stream(*exchange.connection, [&activity = *exchange.activity] { activity.progress(); });
    while (!end.finished && !tokens.stopped()) {
      CompletionChunk& chunk = *co_await stream.next();
      if (delivered == 0 && chunk.tokens_evaluated > 0) {
        writer.prompt_evaluated(static_cast<uint64_t>(chunk.tokens_evaluated));
      }
      tokens.begin(chunk);
      while (std::optional<Token> token = tokens.next()) {
        co_await writer.push(std::move(*token));
        ++delivered;
      }
      if (chunk.stop && !tokens.stopped()) {
        record_final_metrics(writer.metrics(), chunk, delivered);
        end.finished = finish_reason_of(chunk.stop_type);
      }
    }
  } catch (const Error& e) {
    end.failure = std::current_exception();
    end.failure_code = e.code();
  } catch (const std::exception& e) {
    end.failure = std::make_exception_ptr(Error(errc::protocol_error, e.what()));
    end.failure_code = make_error_code(errc::protocol_error);
  }
  tokens_served_.fetch_add(delivered, std::memory_order_relaxed);
  exchange.activity.reset();
  co_return end;
}

// A stop token or a failure ended the request before the server's final chunk.
asio::awaitable<FinishReason> LlamaServerModel::end_unfinished(StreamWriter& writer, Exchange& exchange, uint32_t slot,
                                                               StreamEnd end) {
  // Close the connection so the server stops the task.
  exchange.connection->close();
  // Cleanup must run to the end even though this coroutine may have been cancelled (and may be
  // cancelled again, e.g. by a deadline after cancel()): it is immune from here on.
  if (writer.cancelled()) {
    co_await asio::this_coro::reset_cancellation_state(asio::disable_cancellation());
    co_await asio::this_coro::throw_if_cancelled(false);
  }
  if (end.failure) {
    if (std::optional<Error> cause = co_await failure_cause(writer, *exchange.instance, end.failure_code)) {
      throw std::move(*cause);
    }
  }
  // Hand the slot on only once the server has let go of it.
  co_await wait_slot_idle(*exchange.instance, slot);
  if (end.failure) std::rethrow_exception(end.failure);
  co_return FinishReason::stop;  // ended early on a stop token
}

// Why a request failed when that was not its own doing: the model closing under it, or its
// server hanging or dying (which also frees the slot). std::nullopt: the failure stands as it is.
asio::awaitable<std::optional<Error>> LlamaServerModel::failure_cause(const StreamWriter& writer,
                                                                      const ServerInstance& instance,
                                                                      std::error_code failure) {
  if (writer.cancelled()) co_return std::nullopt;
  if (closed_.load()) co_return Error(errc::closed, "llama-server model closed while generating");
  // The server answered with an error: it is alive.
  if (failure == make_error_code(errc::child_error)) co_return std::nullopt;
  const std::optional<ExitStatus> status = co_await confirm_exit(instance);
  if (!status) co_return std::nullopt;
  if (instance.stopping.load()) co_return Error(errc::closed, "llama-server model closed while generating");
  if (instance.hung.load()) {
    co_return Error(errc::child_hung, "llama-server produced no token for " +
                                          std::to_string(engine_.stall_timeout.count()) +
                                          " ms; it was killed and is being restarted");
  }
  co_return Error(errc::child_exited, "llama-server " + status->describe() + " while generating", status->output_tail);
}

asio::awaitable<std::optional<ExitStatus>> LlamaServerModel::confirm_exit(const ServerInstance& instance) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer window(executor, kExitConfirmWindow);
  auto first = co_await (instance.process->async_wait_exit() || window.async_wait(asio::use_awaitable));
  if (first.index() == 0) co_return std::get<0>(std::move(first));
  if (!instance.process->has_exited()) co_return std::nullopt;
  // Dead, but not observed yet (its output is still draining, or the machine is slow).
  asio::steady_timer bound(executor, kExitObserveTimeout);
  auto second = co_await (instance.process->async_wait_exit() || bound.async_wait(asio::use_awaitable));
  if (second.index() == 0) co_return std::get<0>(std::move(second));
  co_return ExitStatus{};
}

// The one poll left in the engine, on purpose: llama-server offers no event for "this slot is
// idle again" (no SSE for /slots, no output line), only /slots to ask. It runs only after a
// request ended early, and for at most slot_release_timeout.
asio::awaitable<void> LlamaServerModel::wait_slot_idle(const ServerInstance& instance, uint32_t slot) {
  const auto deadline = std::chrono::steady_clock::now() + engine_.slot_release_timeout;
  try {
    const auto executor = co_await asio::this_coro::executor;
    HttpConnection control(executor, instance.process->endpoint());
    asio::steady_timer interval(executor);
    for (;;) {
      const auto response = co_await control.request(HttpMethod::get, "/slots");
      if (!is_slot_processing(response.body, slot)) co_return;
      if (std::chrono::steady_clock::now() > deadline) co_return;
      interval.expires_after(kSlotPollInterval);
      co_await interval.async_wait(asio::use_awaitable);
    }
  } catch (const Error&) {
    // The server is gone or unreachable: nothing holds the slot any more.
  }
}

ModelStats LlamaServerModel::stats() const {
  ModelStats out = model_stats_from_pool(pool_.stats());
  out.tokens_served = tokens_served_.load(std::memory_order_relaxed);
  out.restarts = supervisor_->restarts();
  out.failed = supervisor_->failed();
  return out;
}

std::optional<ServerEndpoint> LlamaServerModel::server_endpoint() const {
  auto instance = supervisor_->current();
  if (!instance || !instance->process) return std::nullopt;
  return instance->process->endpoint();
}

int LlamaServerModel::server_pid() const {
  auto instance = supervisor_->current();
  return instance && instance->process ? instance->process->pid() : 0;
}

asio::awaitable<void> LlamaServerModel::close() {
  if (closed_.exchange(true)) co_return;
  // Drain: woken by the last request's end (or the deadline), not by looking at the pool.
  if (engine_.drain_on_close) co_await pool_.wait_idle(std::chrono::steady_clock::now() + engine_.drain_timeout);
  pool_.close(make_error_code(errc::closed), "llama-server model closed");
  // In-flight requests end first: their connections close, and those not sent yet never will be.
  supervisor_->abort_requests();
  // llama-server does not act on SIGTERM while a task runs (its HTTP thread waits for the
  // task's results, which a terminating server never delivers), and a task whose client went
  // away ends only at its next token. So a server that may still hold a task is killed at
  // once; an idle one gets SIGTERM and the grace.
  const bool task_may_run = requests_at_server_.load() > 0;
  co_await supervisor_->stop(task_may_run ? kNoShutdownGrace : engine_.shutdown_grace);
}

}  // namespace inference::llama_server
