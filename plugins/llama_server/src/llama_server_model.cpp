#include "inference/llama_server/llama_server_model.hpp"

#include <algorithm>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <sys/wait.h>

#include "inference/error.hpp"
#include "inference/gguf/model_info_reader.hpp"
#include "inference/llama_server/apply_template_request.hpp"
#include "inference/llama_server/completion_chunk.hpp"
#include "inference/llama_server/completion_request.hpp"
#include "inference/llama_server/completion_stream.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "inference/llama_server/server_error.hpp"
#include "inference/llama_server/server_slots.hpp"
#include "inference/llama_server/server_version_cache.hpp"
#include "inference/llama_server/sse_parser.hpp"
#include "supervision_context.hpp"

namespace inference::llama_server {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

// A UTF-8 character is at most 4 bytes, so at most 3 tokens can be held back inside one.
constexpr int64_t kMaxHeldTokens = 3;

// How many tokens the server generated before this chunk's listed ids without listing them (held
// back inside a UTF-8 character), from the running tokens_predicted count. At most
// kMaxHeldTokens, so a corrupt count cannot make the caller run away.
uint64_t unlisted_tokens(const CompletionChunk& chunk, int64_t& server_count) {
  if (chunk.tokens_predicted <= 0) return 0;  // a server that does not count: nothing to infer
  const int64_t gap = chunk.tokens_predicted - server_count - static_cast<int64_t>(chunk.tokens.size());
  server_count = chunk.tokens_predicted;
  return static_cast<uint64_t>(std::clamp<int64_t>(gap, 0, kMaxHeldTokens));
}

FinishReason finish_reason_of(StopType stop) {
  switch (stop) {
    case StopType::eos: return FinishReason::eos;
    case StopType::word: return FinishReason::stop;
    case StopType::limit: return FinishReason::length;
    case StopType::none: break;
  }
  return FinishReason::stop;
}

// The kernel's view, without reaping: true once the child has exited (a zombie, or already
// reaped by its ServerProcess watcher), even before ServerProcess has observed it.
bool child_has_exited(pid_t pid) {
  siginfo_t info{};
  if (::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) != 0) return errno == ECHILD;
  return info.si_pid == pid;
}

}  // namespace

struct LlamaServerModel::Request {
  std::string prompt;                  // generate()
  std::vector<ChatMessage> messages;   // chat(), rendered with the server's template
  bool is_chat = false;
  GenerateConfig config;
};

asio::awaitable<std::shared_ptr<LlamaServerModel>> LlamaServerModel::load(std::string path, LoadOptions options,
                                                                           LaunchCustomizer customize,
                                                                           std::vector<std::string> extra_option_keys) {
  // Cheap checks first: a missing or corrupt model fails in milliseconds, before any spawn.
  if (options.parallel_slots == 0) throw Error(errc::invalid_argument, "parallel_slots must be at least 1");
  ModelInfo info = gguf::read_model_info(path);
  const EngineOptions engine = parse_engine_options(options.backend_options, extra_option_keys);
  const auto binary = find_server_binary(options.server_path.empty()
                                             ? std::optional<std::filesystem::path>()
                                             : std::optional<std::filesystem::path>(options.server_path));
  const ServerVersion version = probe_server_version_cached(binary);

  LaunchSpec spec;
  spec.binary = binary;
  spec.features = version.features;
  spec.model_path = path;
  spec.slots = options.parallel_slots;
  spec.context_per_slot = options.context_len;
  spec.gpu_layers = options.gpu_layers < 0 ? kAllGpuLayers : options.gpu_layers;
  if (!options.chat_template.empty()) spec.chat_template = options.chat_template;
  spec.extra_args = options.extra_args;
  spec.transport = engine.transport;
  spec.port = engine.port;
  if (customize) customize(spec);

  auto executor = co_await asio::this_coro::executor;
  ServerProcessOptions process_options;
  process_options.log_sink = options.server_log;
  // Supervised on the engine's own thread: an idle model is no work on the host's io_context,
  // and the server outlives whichever host thread loaded it (see supervision_context.hpp).
  auto supervisor = std::make_shared<ServerSupervisor>(detail::SupervisionContext::instance().executor(), spec,
                                                       engine, std::move(process_options));
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
  auto& metrics = writer.metrics();
  auto executor = co_await asio::this_coro::executor;

  // close() may end this request from another thread at any moment: the abort hops onto this
  // request's strand and closes the connection while it exists (the guard clears it, on the
  // same strand). Registered with the supervisor before anything reaches the server, which
  // also lets the stall watchdog notice a server that hangs while a request connects.
  struct AbortTarget {
    HttpConnection* connection = nullptr;
  };
  auto abort_target = std::make_shared<AbortTarget>();
  struct AbortGuard {
    std::shared_ptr<AbortTarget> target;
    ~AbortGuard() { target->connection = nullptr; }
  } abort_guard{abort_target};
  // HttpConnection reconnects a closed connection on its next request, so an abort that came
  // between two steps would be undone: every step that sends checks first (same strand step).
  const auto throw_if_closing = [this] {
    if (closed_.load()) throw Error(errc::closed, "llama-server model closed before the request was sent");
  };
  const auto abort = [abort_target, executor] {
    asio::post(executor, [abort_target] {
      if (abort_target->connection) abort_target->connection->close();
    });
  };

  // A server that died before this request reached it never saw the request: wait for its
  // successor instead of failing (queued requests continue across a crash).
  std::shared_ptr<ServerInstance> instance;
  std::unique_ptr<ServerSupervisor::Activity> activity;
  // Counts this request from before it may reach the server until the server is done with it
  // (after wait_slot_idle below), for close().
  struct AtServer {
    explicit AtServer(std::atomic<int>& count) : count_(count) { count_.fetch_add(1); }
    AtServer(const AtServer&) = delete;
    AtServer& operator=(const AtServer&) = delete;
    ~AtServer() { count_.fetch_sub(1); }
    std::atomic<int>& count_;
  };
  std::optional<AtServer> at_server;
  std::optional<HttpConnection> connection;
  for (;;) {
    instance = co_await supervisor_->acquire_instance();
    activity = supervisor_->track(instance, abort);
    if (!at_server) at_server.emplace(requests_at_server_);
    // close() sets closed_ before it aborts the registered requests: either this sees it, or
    // the abort finds the connection made below (nothing in between suspends). So no request
    // reaches a server that is being stopped, which llama-server would run to the end first.
    throw_if_closing();
    connection.emplace(executor, instance->process->endpoint());
    abort_target->connection = &*connection;
    std::exception_ptr connect_failure;
    try {
      co_await connection->connect();
    } catch (const Error& e) {
      if (e.is(errc::cancelled)) throw;
      connect_failure = std::current_exception();
    }
    if (!connect_failure) break;
    abort_target->connection = nullptr;
    const std::optional<ExitStatus> exited = co_await confirm_exit(*instance);
    if (!exited || instance->stopping.load()) std::rethrow_exception(connect_failure);
  }

  CompletionParams params;
  if (request->is_chat) {
    throw_if_closing();
    const auto rendered = co_await connection->request(HttpMethod::post, "/apply-template",
                                                       apply_template_request_body(request->messages));
    params.prompt = parse_apply_template_response(rendered.body);
  } else {
    params.prompt = request->prompt;
  }
  params.n_predict = config.effective_max_tokens();
  if (config.temperature) params.temperature = *config.temperature;
  params.top_k = config.top_k;
  if (config.top_p) params.top_p = *config.top_p;
  if (config.min_p) params.min_p = *config.min_p;
  if (config.repeat_penalty) params.repeat_penalty = *config.repeat_penalty;
  if (config.seed) params.seed = static_cast<uint32_t>(*config.seed);
  params.stop = config.stop;
  if (config.logprobs > 0) params.n_probs = config.logprobs;
  params.id_slot = static_cast<int32_t>(lease.slot());
  params.cache_prompt = true;
  if (engine_.ignore_eos) params.ignore_eos = true;

  std::optional<FinishReason> finished;   // the server sent its final chunk
  bool ended_early = false;               // we ended it (stop token): the task must be cancelled
  std::exception_ptr failure;
  std::error_code failure_code;
  uint64_t pushed = 0;        // Tokens delivered
  int64_t server_count = 0;   // tokens_predicted of the last chunk
  try {
    throw_if_closing();
    co_await connection->start_stream(HttpMethod::post, "/completion", completion_request_body(params));
    CompletionStreamReader stream(*connection, [&activity] { activity->progress(); });
    while (!finished && !ended_early) {
      CompletionChunk& chunk = *co_await stream.next();
      if (pushed == 0 && chunk.tokens_evaluated > 0) writer.prompt_evaluated(static_cast<uint64_t>(chunk.tokens_evaluated));
      // One Token per generated id. llama-server holds back a token that ends inside a UTF-8
      // character and sends its bytes with the token that completes the character, in one
      // chunk that lists only that last id: the held ones show only in tokens_predicted. They
      // are delivered as Tokens with id -1 and empty text, before the one carrying the text.
      // (A final token that ends inside a character is never sent at all: it arrives the same
      // way, with the final chunk.) Should a server list several ids in one chunk, the text
      // goes on the last of them.
      const uint64_t unlisted = unlisted_tokens(chunk, server_count);
      for (uint64_t i = 0; i < unlisted; ++i) {
        Token held;
        co_await writer.push(std::move(held));
        ++pushed;
      }
      for (std::size_t i = 0; i < chunk.tokens.size() && !ended_early; ++i) {
        const TokenId id = chunk.tokens[i];
        if (std::find(config.stop_tokens.begin(), config.stop_tokens.end(), id) != config.stop_tokens.end()) {
          ended_early = true;
          break;
        }
        Token token;
        token.id = id;
        if (i + 1 == chunk.tokens.size()) token.text = std::move(chunk.content);
        if (i < chunk.probabilities.size()) {
          for (const auto& candidate : chunk.probabilities[i].top) {
            token.top.push_back(TokenProbability{candidate.id, candidate.text, std::exp(candidate.logprob)});
          }
        }
        co_await writer.push(std::move(token));
        ++pushed;
      }
      if (chunk.stop && !ended_early) {
        if (chunk.timings) {
          metrics.cached_prompt_tokens = static_cast<uint64_t>(chunk.timings->cache_n);
          metrics.prefill_tokens_per_s = chunk.timings->prompt_per_second;
          metrics.decode_tokens_per_s = chunk.timings->predicted_per_second;
        }
        metrics.prompt_tokens = static_cast<uint64_t>(chunk.tokens_evaluated);
        metrics.generated_tokens = pushed;  // what the reader received: the server's count, see above
        finished = finish_reason_of(chunk.stop_type);
      }
    }
  } catch (const Error& e) {
    failure = std::current_exception();
    failure_code = e.code();
  } catch (const std::exception& e) {
    failure = std::make_exception_ptr(Error(errc::protocol_error, e.what()));
    failure_code = make_error_code(errc::protocol_error);
  }
  tokens_served_.fetch_add(pushed, std::memory_order_relaxed);
  activity.reset();

  if (finished && !failure) co_return *finished;

  // The request did not end normally: close the connection so the server stops the task.
  connection->close();
  // Cleanup must run to the end even though this coroutine may have been cancelled (and may be
  // cancelled again, e.g. by a deadline after cancel()): it is immune from here on.
  if (writer.cancelled()) {
    co_await asio::this_coro::reset_cancellation_state(asio::disable_cancellation());
    co_await asio::this_coro::throw_if_cancelled(false);
  }

  if (failure && closed_.load() && !writer.cancelled()) {
    throw Error(errc::closed, "llama-server model closed while generating");
  }
  const bool server_error = failure_code == make_error_code(errc::http_error);
  if (failure && !writer.cancelled() && !server_error) {
    // Was it the server dying under us?
    const std::optional<ExitStatus> status = co_await confirm_exit(*instance);
    if (status) {
      if (instance->stopping.load()) throw Error(errc::closed, "llama-server model closed while generating");
      if (instance->hung.load()) {
        throw Error(errc::server_hung, "llama-server produced no token for " +
                                           std::to_string(engine_.stall_timeout.count()) +
                                           " ms; it was killed and is being restarted");
      }
      throw Error(errc::server_exited, "llama-server " + status->describe() + " while generating", status->output_tail);
    }
  }
  // Hand the slot on only once the server has let go of it.
  co_await wait_slot_idle(*instance, lease.slot());
  if (failure) std::rethrow_exception(failure);
  co_return FinishReason::stop;  // ended early on a stop token
}

asio::awaitable<std::optional<ExitStatus>> LlamaServerModel::confirm_exit(const ServerInstance& instance) {
  auto executor = co_await asio::this_coro::executor;
  asio::steady_timer window(executor, kExitConfirmWindow);
  auto first = co_await (instance.process->async_wait_exit() || window.async_wait(asio::use_awaitable));
  if (first.index() == 0) co_return std::get<0>(std::move(first));
  if (!child_has_exited(instance.process->pid())) co_return std::nullopt;
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
  const auto pool = pool_.stats();
  ModelStats out;
  out.slots_total = pool.slots_total;
  out.slots_busy = pool.slots_busy;
  out.queue_depth = pool.queue_depth;
  out.max_in_flight = pool.max_in_flight;
  out.requests_total = pool.acquired_total;
  out.requests_rejected = pool.rejected_total;
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
