#include "inference/openai/openai_model.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "abort_registry.hpp"
#include "inference/error.hpp"
#include "inference/model_stats_from_pool.hpp"
#include "inference/openai/remote_stream.hpp"
#include "inference/openai/request_body.hpp"
#include "inference/openai/retry_policy.hpp"

namespace inference::openai {

namespace asio = boost::asio;

namespace {

constexpr std::string_view kClosedContext = "openai model closed";

void record_usage(StreamWriter& writer, const RemoteUsage& usage) {
  GenerateMetrics& metrics = writer.metrics();
  metrics.prompt_tokens = usage.prompt_tokens;
  metrics.generated_tokens = usage.completion_tokens;
  metrics.cached_prompt_tokens = usage.cached_tokens;
  if (usage.prefill_tokens_per_s > 0.0) metrics.prefill_tokens_per_s = usage.prefill_tokens_per_s;
  if (usage.decode_tokens_per_s > 0.0) metrics.decode_tokens_per_s = usage.decode_tokens_per_s;
  writer.prompt_evaluated(usage.prompt_tokens);
}

// Points the abort handle at the connection in use, and away from it when the attempt ends.
class ConnectionInUse {
 public:
  ConnectionInUse(AbortHandle& handle, RemoteConnection& connection) : handle_(handle) {
    handle_.connection = &connection;
  }
  ~ConnectionInUse() { handle_.connection = nullptr; }
  ConnectionInUse(const ConnectionInUse&) = delete;
  ConnectionInUse& operator=(const ConnectionInUse&) = delete;

 private:
  AbortHandle& handle_;
};

// Points the abort handle at the wait before a retry while it runs.
class WaitInUse {
 public:
  WaitInUse(AbortHandle& handle, asio::steady_timer& timer) : handle_(handle) { handle_.backoff = &timer; }
  ~WaitInUse() { handle_.backoff = nullptr; }
  WaitInUse(const WaitInUse&) = delete;
  WaitInUse& operator=(const WaitInUse&) = delete;

 private:
  AbortHandle& handle_;
};

}  // namespace

struct OpenAiModel::Request {
  std::string target;  // the endpoint's request target, e.g. "/v1/completions"
  std::string body;
  EventForm form = EventForm::completion;
  GenerateConfig config;
};

OpenAiModel::OpenAiModel(asio::any_io_executor executor, RemoteOptions options,
                         std::shared_ptr<const RemoteEndpoint> endpoint, std::size_t stream_buffer_tokens)
    : executor_(std::move(executor)),
      options_(std::move(options)),
      endpoint_(std::move(endpoint)),
      stream_buffer_tokens_(stream_buffer_tokens),
      pool_(SlotPoolOptions{.slots = options_.max_in_flight, .queue_limit = options_.queue_limit}),
      connections_(executor_, endpoint_, options_.max_in_flight),
      aborts_(std::make_unique<AbortRegistry>()),
      context_(executor_, [this] { connections_.close(); }) {}

OpenAiModel::~OpenAiModel() { connections_.close(); }

TokenStream OpenAiModel::generate(std::string prompt, GenerateConfig config) {
  if (auto invalid = validate_for_prompt(config)) return failed_stream(*invalid);
  if (auto refused = unsupported_fields(config, {})) return failed_stream(*refused);
  auto request = std::make_shared<Request>();
  if (options_.protocol == RemoteProtocol::llama_server) {
    request->target = options_.url.native_endpoint("/completion");
    request->body = llama_completion_body(prompt, config, options_.ignore_eos);
    request->form = EventForm::llama_completion;
  } else {
    request->target = options_.url.endpoint("/completions");
    request->body = completion_body(options_.model, prompt, config, options_.ignore_eos);
  }
  request->config = std::move(config);
  return start(std::move(request));
}

TokenStream OpenAiModel::chat(std::vector<Message> messages, GenerateConfig config) {
  if (auto invalid = validate(config)) return failed_stream(*invalid);
  if (auto refused = unsupported_fields(config, messages)) return failed_stream(*refused);
  auto request = std::make_shared<Request>();
  request->target = options_.url.endpoint("/chat/completions");
  request->body = chat_body(options_.model, messages, config, options_.ignore_eos);
  request->form = EventForm::chat;
  request->config = std::move(config);
  return start(std::move(request));
}

TokenStream OpenAiModel::start(std::shared_ptr<const Request> request) {
  if (closed_.load()) return failed_stream(make_error_code(errc::closed), std::string(kClosedContext));
  if (context_.shut_down()) {
    return failed_stream(make_error_code(errc::closed), "openai model: its io_context was destroyed");
  }
  StreamOptions stream(stream_buffer_tokens_, request->config);
  return spawn_stream(executor_, stream, [self = shared_from_this(), request](StreamWriter& writer) {
    return self->run(writer, request);
  });
}

asio::awaitable<FinishReason> OpenAiModel::run(StreamWriter& writer, std::shared_ptr<const Request> request) {
  writer.queued();
  SlotLease lease = co_await pool_.acquire(SlotRequest(request->config.session, request->config.priority.value_or(0)));
  writer.admitted(lease.waited());
  writer.metrics().replica = static_cast<int32_t>(lease.replica());
  writer.metrics().slot = static_cast<int32_t>(lease.slot());
  const AbortRegistry::Registration registration = aborts_->add(co_await asio::this_coro::executor);
  // close() sets closed_ before it aborts what is registered: a request registered too late for
  // that sees closed_ here.
  if (closed_.load()) throw Error(errc::closed, std::string(kClosedContext));
  try {
    co_return co_await run_attempts(writer, *request, registration.handle());
  } catch (const std::exception&) {  // an Error, or the system_error of a cancelled wait
    if (registration.handle().aborted) throw Error(errc::closed, std::string(kClosedContext));
    throw;
  }
}

// Attempts until one succeeds, delivers a token, or fails in a way retry_delay() gives up on.
asio::awaitable<FinishReason> OpenAiModel::run_attempts(StreamWriter& writer, const Request& request,
                                                        AbortHandle& handle) {
  const RetryPolicy policy{options_.retries, options_.retry_backoff, options_.max_retry_delay};
  std::optional<asio::steady_timer> backoff;
  for (std::uint32_t attempts = 1;; ++attempts) {
    std::uint64_t delivered = 0;
    std::optional<std::chrono::milliseconds> delay;
    try {
      co_return co_await attempt(writer, request, handle, delivered);
    } catch (const RemoteError& e) {
      if (delivered > 0 || handle.aborted) throw;
      delay = retry_delay(policy, attempts, e);
      if (!delay) throw;
    }
    if (!backoff) backoff.emplace(co_await asio::this_coro::executor);
    backoff->expires_after(*delay);
    const WaitInUse in_use(handle, *backoff);
    co_await backoff->async_wait(asio::use_awaitable);
  }
}

// One request on one connection: send, then relay the events as tokens.
asio::awaitable<FinishReason> OpenAiModel::attempt(StreamWriter& writer, const Request& request, AbortHandle& handle,
                                                   std::uint64_t& delivered) {
  if (handle.aborted) throw Error(errc::closed, std::string(kClosedContext));
  std::unique_ptr<RemoteConnection> connection = connections_.take();
  FinishReason finish = FinishReason::stop;
  {
    const ConnectionInUse in_use(handle, *connection);
    co_await connection->start_stream(request.target, request.body);
    RemoteStreamReader reader(*connection, options_.url.origin(), request.form);
    for (;;) {
      std::optional<RemoteChunk> chunk = co_await reader.next();
      if (!chunk) break;
      if (chunk->token) {
        Token token;
        token.id = chunk->token_id.value_or(0);  // the OpenAI protocol streams text, not ids (openai_model.hpp)
        token.text = std::move(*chunk->token);
        co_await writer.push(std::move(token));
        ++delivered;
        tokens_served_.fetch_add(1, std::memory_order_relaxed);
      }
      if (chunk->finish) finish = *chunk->finish;
      if (chunk->usage) record_usage(writer, *chunk->usage);
    }
  }
  connections_.give_back(std::move(connection));
  co_return finish;
}

ModelInfo OpenAiModel::info() const {
  ModelInfo info;
  info.path = options_.model;
  info.name = options_.model;
  info.architecture = "remote";
  info.serving_device = options_.url.origin();
  return info;
}

ModelStats OpenAiModel::stats() const {
  ModelStats stats = model_stats_from_pool(pool_.stats());
  stats.tokens_served = tokens_served_.load(std::memory_order_relaxed);
  return stats;
}

asio::awaitable<void> OpenAiModel::close() {
  if (closed_.exchange(true)) co_return;
  pool_.close(make_error_code(errc::closed), std::string(kClosedContext));
  aborts_->abort_all();
  co_await pool_.wait_idle(std::chrono::steady_clock::now() + kCloseGrace);
  connections_.close();
}

}  // namespace inference::openai
