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

namespace inference::llama_server {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

// How often close(drain) looks whether the last request has finished.
constexpr std::chrono::milliseconds kDrainPollInterval{10};

asio::awaitable<void> pause(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
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
  auto supervisor = std::make_shared<ServerSupervisor>(executor, spec, engine, std::move(process_options));
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
      pool_(SlotPoolOptions{options_.parallel_slots, options_.queue_limit}) {}

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
  StreamOptions stream(options_.stream_buffer_tokens, request->config);
  return spawn_stream(executor_, stream, [self = shared_from_this(), request](StreamWriter& writer) {
    return self->run(writer, request);
  });
}

asio::awaitable<FinishReason> LlamaServerModel::run(StreamWriter& writer, std::shared_ptr<Request> request) {
  const GenerateConfig& config = request->config;
  SlotLease lease = co_await pool_.acquire(SlotRequest(config.session, config.priority.value_or(0)));
  auto& metrics = writer.metrics();
  metrics.queue_wait = lease.waited();
  auto executor = co_await asio::this_coro::executor;

  // A server that died before this request reached it never saw the request: wait for its
  // successor instead of failing (queued requests continue across a crash).
  std::shared_ptr<ServerInstance> instance;
  std::optional<HttpConnection> connection;
  for (;;) {
    instance = co_await supervisor_->acquire_instance();
    connection.emplace(executor, instance->process->endpoint());
    std::exception_ptr connect_failure;
    try {
      co_await connection->connect();
    } catch (const Error& e) {
      if (e.is(errc::cancelled)) throw;
      connect_failure = std::current_exception();
    }
    if (!connect_failure) break;
    const std::optional<ExitStatus> exited = co_await confirm_exit(*instance);
    if (!exited || instance->stopping.load()) std::rethrow_exception(connect_failure);
  }

  // Registered before the first request to the server: a hung server must be noticed even
  // while the chat template is being rendered.
  // close() may end this request from another thread: the abort hops onto this request's strand
  // and closes the connection only while it exists (the guard clears it, on the same strand).
  struct AbortTarget {
    HttpConnection* connection = nullptr;
  };
  auto abort_target = std::make_shared<AbortTarget>(AbortTarget{&*connection});
  struct AbortGuard {
    std::shared_ptr<AbortTarget> target;
    ~AbortGuard() { target->connection = nullptr; }
  } abort_guard{abort_target};
  auto activity = supervisor_->track(instance, [abort_target, executor] {
    asio::post(executor, [abort_target] {
      if (abort_target->connection) abort_target->connection->close();
    });
  });
  CompletionParams params;
  if (request->is_chat) {
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
  uint64_t pushed = 0;
  try {
    co_await connection->start_stream(HttpMethod::post, "/completion", completion_request_body(params));
    CompletionStreamReader stream(*connection, [&activity] { activity->progress(); });
    while (!finished && !ended_early) {
      CompletionChunk& chunk = *co_await stream.next();
      if (chunk.stop) {
        if (chunk.timings) {
          metrics.cached_prompt_tokens = static_cast<uint64_t>(chunk.timings->cache_n);
          metrics.prefill_tokens_per_s = chunk.timings->prompt_per_second;
          metrics.decode_tokens_per_s = chunk.timings->predicted_per_second;
          metrics.generated_tokens = static_cast<uint64_t>(chunk.timings->predicted_n);
        }
        metrics.prompt_tokens = static_cast<uint64_t>(chunk.tokens_evaluated);
        finished = finish_reason_of(chunk.stop_type);
        break;
      }
      for (std::size_t i = 0; i < chunk.tokens.size(); ++i) {
        const TokenId id = chunk.tokens[i];
        if (std::find(config.stop_tokens.begin(), config.stop_tokens.end(), id) != config.stop_tokens.end()) {
          ended_early = true;
          break;
        }
        Token token;
        token.id = id;
        // A chunk carries one token in practice; its text belongs to the first id.
        if (i == 0) token.text = std::move(chunk.content);
        if (i < chunk.probabilities.size()) {
          for (const auto& candidate : chunk.probabilities[i].top) {
            token.top.push_back(TokenProbability{candidate.id, candidate.text, std::exp(candidate.logprob)});
          }
        }
        if (!writer.try_push(std::move(token))) co_await writer.push(std::move(token));
        ++pushed;
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

asio::awaitable<void> LlamaServerModel::wait_slot_idle(const ServerInstance& instance, uint32_t slot) {
  const auto deadline = std::chrono::steady_clock::now() + engine_.slot_release_timeout;
  try {
    HttpConnection control(co_await asio::this_coro::executor, instance.process->endpoint());
    for (;;) {
      const auto response = co_await control.request(HttpMethod::get, "/slots");
      if (!is_slot_processing(response.body, slot)) co_return;
      if (std::chrono::steady_clock::now() > deadline) co_return;
      co_await pause(kSlotPollInterval);
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
  if (engine_.drain_on_close) {
    const auto deadline = std::chrono::steady_clock::now() + engine_.drain_timeout;
    for (;;) {
      const auto s = pool_.stats();
      if ((s.slots_busy == 0 && s.queue_depth == 0) || std::chrono::steady_clock::now() > deadline) break;
      co_await pause(kDrainPollInterval);
    }
  }
  pool_.close(make_error_code(errc::closed), "llama-server model closed");
  // In-flight requests end first: llama-server does not act on SIGTERM while it still streams.
  supervisor_->abort_requests();
  co_await supervisor_->stop(engine_.shutdown_grace);
}

}  // namespace inference::llama_server
