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
#include "inference/llama_server/constraint_refusal.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/request_params.hpp"
#include "inference/llama_server/server_binary.hpp"
#include "inference/llama_server/server_error.hpp"
#include "inference/llama_server/server_slots.hpp"
#include "inference/llama_server/server_version_cache.hpp"
#include "inference/llama_server/sse_parser.hpp"
#include "inference/llama_server/tool_envelope.hpp"
#include "inference/model_stats_from_pool.hpp"
#include "llama_server_exchange.hpp"
#include "supervision_context.hpp"

namespace inference::llama_server {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {

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

// What a request will leave in its slot's cache, for prefix placement: the prompt, or for chat
// the messages in order (a conversation's next request extends its previous one, so their
// renderings share the prefix the server's cache does).
std::string placement_key(const std::string& prompt, const std::vector<ChatMessage>& messages, bool is_chat) {
  if (!is_chat) return prompt;
  std::string key;
  for (const ChatMessage& m : messages) {
    key += m.role;
    key += '\x1f';
    key += m.content;
    key += '\x1e';
  }
  return key;
}

// generate_tokens(): the ids' bytes, so prompts that share leading ids share a key prefix.
std::string placement_key(const std::vector<int32_t>& ids) {
  return std::string(reinterpret_cast<const char*>(ids.data()), ids.size() * sizeof(int32_t));
}

// chat() with tools: what the model wrote, read as calls or words (tool_envelope.hpp). An envelope
// that does not parse (max_tokens cut it short) gives neither, and the finish reason stands.
FinishReason deliver_tool_reply(StreamWriter& writer, const GenerateConfig& config, std::string text,
                                FinishReason finish) {
  if (config.tool_choice == ToolChoice::none) {
    writer.set_tool_reply({}, std::move(text));
    return finish;
  }
  std::optional<ToolReply> reply = parse_tool_envelope(text);
  if (!reply) return finish;
  if (reply->calls.empty()) {
    writer.set_tool_reply({}, std::move(reply->reply));
    return finish;
  }
  writer.set_tool_reply(std::move(reply->calls), {});
  return FinishReason::tool_calls;
}

// How often a request may be placed again because the replica it got gave up or was replaced
// while it waited for that replica's server: once per replica and generation is plenty.
constexpr uint32_t kPlacementsPerReplica = 2;

}  // namespace

struct LlamaServerModel::Request {
  std::string prompt;                              // generate()
  std::optional<std::vector<int32_t>> prompt_ids;  // generate_tokens(): sent instead of prompt
  std::vector<ChatMessage> messages;               // chat(), rendered with the server's template
  bool is_chat = false;
  GenerateConfig config;
  std::string tool_schema;  // chat() with tools: the envelope's JSON Schema (empty for ToolChoice::none)
};

// How a token stream ended, as stream_tokens() saw it; judged once, by end_unfinished().
// Neither set: a stop token ended it here, and the server's task must be cancelled.
struct LlamaServerModel::StreamEnd {
  std::optional<FinishReason> finished;  // the server sent its final chunk
  std::string text;                      // chat() with tools: what the model wrote
  std::exception_ptr failure;            // reading or delivering failed (always an Error)
  std::error_code failure_code;          // what failed: child_error when the server answered with an error
};

TokenStream LlamaServerModel::generate(std::string prompt, GenerateConfig config) {
  auto request = std::make_shared<Request>();
  request->prompt = std::move(prompt);
  request->config = std::move(config);
  return start(std::move(request));
}

TokenStream LlamaServerModel::generate_tokens(std::vector<int32_t> prompt, GenerateConfig config) {
  if (prompt.empty()) {
    return failed_stream(Error(errc::invalid_argument, "generate_tokens(): the prompt has no tokens"));
  }
  if (auto invalid = check_token_ids(prompt, settings()->info.vocab_size, "generate_tokens() prompt")) {
    return failed_stream(*invalid);
  }
  auto request = std::make_shared<Request>();
  request->prompt_ids = std::move(prompt);
  request->config = std::move(config);
  return start(std::move(request));
}

TokenStream LlamaServerModel::chat(std::vector<Message> messages, GenerateConfig config) {
  auto request = std::make_shared<Request>();
  request->is_chat = true;
  request->messages.reserve(messages.size());
  for (auto& m : messages) {
    request->messages.push_back(
        ChatMessage{std::move(m.role), std::move(m.content), std::move(m.tool_calls), std::move(m.tool_call_id)});
  }
  request->config = std::move(config);
  if (!request->config.tools.empty() && !validate(request->config)) {
    // Before any work: a tool whose parameters are not a JSON Schema object is the caller's fault.
    try {
      request->tool_schema = tool_envelope_schema(request->config);
    } catch (const Error& e) {
      return failed_stream(e);
    }
  }
  return start(std::move(request));
}

TokenStream LlamaServerModel::start(std::shared_ptr<Request> request) {
  if (auto invalid = request->is_chat ? validate(request->config) : validate_for_prompt(request->config)) {
    return failed_stream(*invalid);
  }
  if (std::optional<Error> refused = refuse_generation()) return failed_stream(*refused);
  if (auto invalid = check_request(request->config, settings()->info.vocab_size)) return failed_stream(*invalid);
  if (closed_.load()) return failed_stream(make_error_code(errc::closed), "llama-server model");
  if (context_.shut_down()) {
    return failed_stream(make_error_code(errc::closed), "llama-server model: its io_context was destroyed");
  }
  StreamOptions stream(settings()->options.stream_buffer_tokens, request->config);
  return spawn_stream(executor_, stream, [self = shared_from_this(), request](StreamWriter& writer) {
    return self->run(writer, request);
  });
}

asio::awaitable<FinishReason> LlamaServerModel::run(StreamWriter& writer, std::shared_ptr<Request> request) {
  const std::shared_ptr<const Settings> settings = this->settings();
  const GenerateConfig& config = request->config;
  writer.queued();
  std::optional<Exchange> exchange;
  SlotLease lease = co_await place(writer, *request, exchange);
  Prompt prompt = request->prompt_ids ? Prompt(*request->prompt_ids) : Prompt(request->prompt);
  if (request->is_chat) prompt = co_await render_prompt(*request, *exchange->connection);
  CompletionParams params = request_params(config, std::move(prompt), lease.slot(), settings->engine);
  // With tools the envelope's schema is the output's constraint (validate() keeps the caller's
  // json_schema and grammar empty then): one field set here, not a copy of the config per request.
  if (!config.tools.empty()) params.json_schema = request->tool_schema;
  StreamEnd end = co_await stream_tokens(writer, *exchange, params, config);
  std::string text = std::move(end.text);
  const FinishReason finish =
      end.finished ? *end.finished : co_await end_unfinished(writer, *exchange, lease.slot(), std::move(end));
  if (config.tools.empty()) co_return finish;
  co_return deliver_tool_reply(writer, config, std::move(text), finish);
}

// A slot on a replica that serves, and a connection to that replica's server. The pool places
// the request (session, least-loaded replica, cached prefix). A replica that gave up for good, or
// was replaced, while the request waited for its server is left and the request placed again
// (bounded: the pool no longer offers that replica).
asio::awaitable<SlotLease> LlamaServerModel::place(StreamWriter& writer, const Request& request,
                                                   std::optional<Exchange>& exchange) {
  const SlotRequest wanted(request.config.session, request.config.priority.value_or(0),
                           request.prompt_ids ? placement_key(*request.prompt_ids)
                                              : placement_key(request.prompt, request.messages, request.is_chat));
  const auto executor = co_await asio::this_coro::executor;
  const uint32_t max_placements = kPlacementsPerReplica * replicas_->size();
  for (uint32_t placement = 1;; ++placement) {
    SlotLease lease = co_await acquire_slot(wanted);
    writer.admitted(std::chrono::steady_clock::now() - writer.started());
    writer.metrics().replica = static_cast<int32_t>(lease.replica());
    writer.metrics().slot = static_cast<int32_t>(lease.slot());
    exchange.reset();
    exchange.emplace(executor);
    exchange->replica = lease.replica();
    exchange->supervisor = replicas_->supervisor(lease.replica());
    try {
      co_await connect(*exchange);
      co_return lease;
    } catch (const Error& e) {
      const bool replica_gave_up = e.is(errc::model_failed) || e.is(errc::device_lost) || e.is(errc::closed);
      if (!replica_gave_up || closed_.load() || replicas_->all_failed() || placement >= max_placements) throw;
    }
  }
}

// A slot from the pool. When every replica has failed, the pool says model_failed in one line;
// the replica's own error says it with the server's last lines.
asio::awaitable<SlotLease> LlamaServerModel::acquire_slot(const SlotRequest& wanted) {
  std::exception_ptr refused;
  try {
    co_return co_await replicas_->pool().acquire(wanted);
  } catch (const Error& e) {
    if (!e.is(errc::model_failed) && !e.is(errc::device_lost)) throw;
    refused = std::current_exception();
  }
  if (std::optional<Error> failure = replicas_->model_failure()) throw std::move(*failure);
  std::rethrow_exception(refused);
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
  if (!exchange.supervisor) throw Error(errc::closed, "llama-server replica " + std::to_string(exchange.replica));
  for (;;) {
    exchange.instance = co_await exchange.supervisor->acquire_instance();
    exchange.activity = exchange.supervisor->track(exchange.instance, exchange.abort());
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

// chat(): the messages (and tools) rendered with the server's own template. A template that
// cannot render tools would drop them without a word, and the model would call tools it was
// never shown: refused instead (asked of /props on each such request; it answers from memory).
asio::awaitable<std::string> LlamaServerModel::render_prompt(const Request& request, HttpConnection& connection) {
  const std::vector<ToolDefinition>& tools = request.config.tools;
  if (!tools.empty()) {
    throw_if_closing();
    const auto props = co_await connection.request(HttpMethod::get, "/props");
    if (!template_supports_tools(props.body)) {
      throw Error(errc::invalid_argument,
                  "chat() with tools: this model's chat template cannot render tools (llama-server reports "
                  "chat_template_caps.supports_tools false); use a model, or a LoadOptions::chat_template, whose "
                  "template renders them");
    }
  }
  throw_if_closing();
  const auto rendered = co_await connection.request(HttpMethod::post, "/apply-template",
                                                    apply_template_request_body(request.messages, tools));
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
        if (!config.tools.empty()) end.text += token->text;
        co_await writer.push(std::move(*token));
        ++delivered;
      }
      if (chunk.stop && !tokens.stopped()) {
        record_final_metrics(writer.metrics(), chunk, delivered);
        end.finished = finish_reason_of(chunk.stop_type);
      }
    }
  } catch (const ServerError& e) {
    // A schema or grammar the server cannot use is the caller's bad argument; the server is fine.
    std::optional<Error> refused = constraint_refusal(e, config, exchange.instance->process->output_tail());
    end.failure = refused ? std::make_exception_ptr(std::move(*refused)) : std::current_exception();
    end.failure_code = e.code();
  } catch (const Error& e) {
    end.failure = std::current_exception();
    end.failure_code = e.code();
  } catch (const std::exception& e) {
    end.failure = std::make_exception_ptr(Error(errc::protocol_error, e.what()));
    end.failure_code = make_error_code(errc::protocol_error);
  }
  tokens_served_.fetch_add(delivered, std::memory_order_relaxed);
  replicas_->add_tokens(exchange.replica, delivered);
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
    if (std::optional<Error> cause =
            co_await failure_cause(writer.cancelled(), *exchange.supervisor, *exchange.instance, end.failure_code)) {
      // Its server is dead: no queued request may get this slot before the replica is marked down.
      if (server_died(*cause)) {
        replicas_->instance_died(exchange.replica, *exchange.instance);
      }
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
asio::awaitable<std::optional<Error>> LlamaServerModel::failure_cause(bool cancelled,
                                                                      const ServerSupervisor& supervisor,
                                                                      const ServerInstance& instance,
                                                                      std::error_code failure) {
  if (cancelled) co_return std::nullopt;
  if (closed_.load()) co_return Error(errc::closed, "llama-server model closed while generating");
  // The server answered with an error: it is alive.
  if (failure == make_error_code(errc::child_error)) co_return std::nullopt;
  const std::optional<ExitStatus> status = co_await confirm_exit(instance);
  if (!status) co_return std::nullopt;
  if (instance.stopping.load()) co_return Error(errc::closed, "llama-server model closed while generating");
  Error died =
      instance.hung.load()
          ? Error(errc::child_hung, "llama-server produced no token for " +
                                        std::to_string(settings()->engine.stall_timeout.count()) +
                                        " ms; it was killed and is being restarted")
          : Error(errc::child_exited, "llama-server " + status->describe() + " while generating", status->output_tail);
  // A remote part that stopped answering takes llama-server down with it (an RPC worker: a ggml
  // abort that does not say which one), or leaves it waiting (a host that vanished): name it.
  if (std::optional<std::string> gone = co_await supervisor.remote_gone()) {
    co_return Error(errc::backend_unavailable, *gone + " (" + died.context() + ")", died.detail());
  }
  co_return died;
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
  const auto deadline = std::chrono::steady_clock::now() + settings()->engine.slot_release_timeout;
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

}  // namespace inference::llama_server
