#include "completion_exchange.hpp"

#include <fmt/core.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/gateway/api_error.hpp"
#include "inference/gateway/openai_response.hpp"
#include "inference/text_model.hpp"

namespace inference::gateway {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace asio::experimental::awaitable_operators;

namespace {

// Bytes a client may send ahead (HTTP pipelining) while its request is answered; beyond that the
// gateway stops reading until the answer is done, so a client cannot make it buffer without end.
constexpr std::size_t kPipelinedBytesLimit = 64u << 10;
constexpr std::size_t kReadChunk = 4096;
// Bounds on X-Request-Timeout (seconds) and X-Priority.
constexpr double kLongestTimeoutSeconds = 7 * 24 * 3600.0;
constexpr int32_t kPriorityBound = 1000000;

// One request's state while it is answered.
struct Exchange {
  Exchange(GatewayContext& context_in, Connection& connection_in, const HttpRequest& http_request_in)
      : context(context_in),
        connection(connection_in),
        http_request(http_request_in),
        chunked(http_request_in.version() >= 11) {}

  GatewayContext& context;
  Connection& connection;
  const HttpRequest& http_request;
  CompletionRequest request;
  ResponseIdentity identity;
  bool chunked = true;  // HTTP/1.1 chunked framing for SSE (HTTP/1.0: close-delimited)
  bool headers_sent = false;
  bool connection_usable = true;
  unsigned status = 0;
  std::string outcome;           // "stop", "eos", "length", "cancelled" or an error name
  GenerateMetrics metrics;       // the runtime's, once the stream finished
  uint64_t tokens_received = 0;  // counted here too: a cancelled stream reports no metrics
};

// X-Request-Timeout: seconds (decimal) for queueing plus generation. X-Priority: an integer,
// higher first. Both optional; a malformed value is refused, not ignored.
void apply_request_headers(const HttpRequest& http_request, GenerateConfig& config) {
  if (const auto value = http_request["X-Request-Timeout"]; !value.empty()) {
    double seconds = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
    if (ec != std::errc() || end != value.data() + value.size() || !std::isfinite(seconds) || seconds <= 0 ||
        seconds > kLongestTimeoutSeconds) {
      throw invalid_request(fmt::format("header X-Request-Timeout must be a number of seconds in (0, {}], got '{}'",
                                        kLongestTimeoutSeconds, std::string_view(value)),
                            "X-Request-Timeout");
    }
    // A fixed deadline from the request's arrival, so that it also covers loading the model.
    config.deadline =
        std::chrono::steady_clock::now() +
        std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  }
  if (const auto value = http_request["X-Priority"]; !value.empty()) {
    int32_t priority = 0;
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), priority);
    if (ec != std::errc() || end != value.data() + value.size() || priority < -kPriorityBound ||
        priority > kPriorityBound) {
      throw invalid_request(fmt::format("header X-Priority must be an integer in [-{0}, {0}], got '{1}'",
                                        kPriorityBound, std::string_view(value)),
                            "X-Priority");
    }
    config.priority = priority;
  }
}

ApiError unknown_model(const std::string& name, const std::vector<std::string>& served) {
  std::string list;
  for (const auto& item : served) list += (list.empty() ? "" : ", ") + item;
  return api_error_from(
      Error(errc::model_not_found, fmt::format("model '{}' is not served here (served: {})", name, list)));
}

TokenStream start_stream(TextModel& model, const CompletionRequest& request) {
  if (request.endpoint == Endpoint::chat_completions) return model.chat(request.messages, request.config);
  return model.generate(request.prompt, request.config);
}

// The runtime's error name ("child_exited"), for metrics labels and the request log.
std::string error_outcome(const std::error_code& code) {
  if (code.category() == error_category()) return std::string(error_name(static_cast<errc>(code.value())));
  return "error";
}

std::string outcome_of(const GenerateResult& result) {
  if (result.finish_reason == FinishReason::error && result.error) return error_outcome(result.error);
  return std::string(to_string(result.finish_reason));
}

// One SSE event, framed as an HTTP chunk when the response is chunked.
void append_event(const Exchange& exchange, std::string& out, std::string_view payload) {
  constexpr std::string_view kData = "data: ";
  constexpr std::string_view kEnd = "\n\n";
  if (exchange.chunked)
    fmt::format_to(std::back_inserter(out), "{:x}\r\n", kData.size() + payload.size() + kEnd.size());
  out.append(kData).append(payload).append(kEnd);
  if (exchange.chunked) out.append("\r\n");
}

std::string sse_head(const Exchange& exchange) {
  std::string head = fmt::format(
      "HTTP/1.{} 200 OK\r\nServer: llmctl-serve\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n",
      exchange.chunked ? 1 : 0);
  head += exchange.chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n";
  if (exchange.chunked && !exchange.http_request.keep_alive()) head += "Connection: close\r\n";
  head += cors_header_lines(exchange.http_request, exchange.context.options);
  head += "\r\n";
  return head;
}

asio::awaitable<void> write_text(Exchange& exchange, const std::string& text) {
  co_await asio::async_write(exchange.connection.socket, asio::buffer(text), asio::use_awaitable);
}

asio::awaitable<void> refuse(Exchange& exchange, ApiError error) {
  if (error.status() == 429 || error.status() == 503) error.retry_after = exchange.context.options.retry_after;
  exchange.status = error.status();
  if (exchange.outcome.empty()) exchange.outcome = error.code();
  co_await write_response(exchange.connection.socket,
                          error_response(exchange.http_request, exchange.context.options, error));
}

// The stream's end: an error event when it failed, then the finish and usage chunks and [DONE].
std::string stream_tail(const Exchange& exchange, const std::optional<Error>& failure, const GenerateResult& result) {
  std::string tail;
  if (failure) {
    append_event(exchange, tail, error_body(api_error_from(*failure)));
  } else {
    append_event(exchange, tail, finish_chunk(exchange.request, exchange.identity, result.finish_reason));
    if (exchange.request.include_usage) {
      append_event(exchange, tail, usage_chunk(exchange.request, exchange.identity, result.metrics));
    }
  }
  append_event(exchange, tail, "[DONE]");
  if (exchange.chunked) tail += "0\r\n\r\n";
  return tail;
}

// stream: true with tools (parses_tool_reply): whether the model writes words or calls is known
// only once its envelope is complete, so the whole stream is read first; then the role chunk, one
// chunk with the tool calls or the words, and the tail. A failure is an HTTP error (nothing sent).
asio::awaitable<void> relay_tool_reply(Exchange& exchange, TokenStream& stream) {
  std::optional<Error> failure;
  try {
    while (co_await stream.next()) ++exchange.tokens_received;
  } catch (const Error& e) {
    if (e.is(errc::cancelled)) throw;
    failure = e;
  }
  if (failure) co_return co_await refuse(exchange, api_error_from(*failure));
  const GenerateResult result = stream.result();
  std::string text = sse_head(exchange);
  append_event(exchange, text, role_chunk(exchange.request, exchange.identity));
  append_event(exchange, text, tool_reply_chunk(exchange.request, exchange.identity, result));
  text += stream_tail(exchange, std::nullopt, result);
  exchange.status = 200;
  exchange.headers_sent = true;
  co_await write_text(exchange, text);
}

// stream: true. Errors other than the client's own cancellation end up in the answer.
asio::awaitable<void> relay_stream(Exchange& exchange, TokenStream& stream) {
  if (parses_tool_reply(exchange.request)) co_return co_await relay_tool_reply(exchange, stream);
  std::optional<Token> token;
  std::optional<Error> failure;
  try {
    token = co_await stream.next();
  } catch (const Error& e) {
    if (e.is(errc::cancelled)) throw;
    failure = e;
  }
  if (failure) co_return co_await refuse(exchange, api_error_from(*failure));

  std::string text = sse_head(exchange);
  if (exchange.request.endpoint == Endpoint::chat_completions) {
    append_event(exchange, text, role_chunk(exchange.request, exchange.identity));
  }
  exchange.status = 200;
  exchange.headers_sent = true;
  while (token) {
    ++exchange.tokens_received;
    append_event(exchange, text, token_chunk(exchange.request, exchange.identity, *token));
    co_await write_text(exchange, text);
    text.clear();
    try {
      token = co_await stream.next();
    } catch (const Error& e) {
      if (e.is(errc::cancelled)) throw;
      failure = e;
      token.reset();
    }
  }
  const auto result = stream.result();
  text += stream_tail(exchange, failure, result);
  co_await write_text(exchange, text);
  if (failure) exchange.outcome = error_outcome(failure->code());
}

// stream: false: the whole text, then one JSON answer.
asio::awaitable<void> relay_whole(Exchange& exchange, TokenStream& stream) {
  std::vector<Token> tokens;
  std::optional<Error> failure;
  try {
    while (auto token = co_await stream.next()) {
      tokens.push_back(std::move(*token));
      ++exchange.tokens_received;
    }
  } catch (const Error& e) {
    if (e.is(errc::cancelled)) throw;
    failure = e;
  }
  if (failure) co_return co_await refuse(exchange, api_error_from(*failure));
  exchange.status = 200;
  exchange.headers_sent = true;
  co_await write_response(exchange.connection.socket,
                          json_response(exchange.http_request, exchange.context.options, 200,
                                        full_response(exchange.request, exchange.identity, tokens, stream.result())));
}

// The model, within the request's deadline when it has one (a load on first use counts).
asio::awaitable<ModelLease> acquire_model(Exchange& exchange) {
  auto& pool = exchange.context.pool;
  const auto& deadline = exchange.request.config.deadline;
  if (!deadline) co_return co_await pool.acquire(exchange.request.model);
  asio::steady_timer timer(exchange.context.executor, *deadline);
  auto [order, failure, lease, timer_error] =
      co_await asio::experimental::make_parallel_group(
          asio::co_spawn(exchange.context.executor, pool.acquire(exchange.request.model), asio::deferred),
          timer.async_wait(asio::deferred))
          .async_wait(asio::experimental::wait_for_one(), asio::use_awaitable);
  if (order[0] == 1) {
    throw Error(errc::deadline_exceeded,
                "X-Request-Timeout passed while model '" + exchange.request.model + "' was being loaded");
  }
  if (failure) std::rethrow_exception(failure);
  (void)timer_error;
  co_return std::move(lease);
}

asio::awaitable<void> answer_with_model(Exchange& exchange) {
  auto lease = co_await acquire_model(exchange);
  auto stream = start_stream(lease.model(), exchange.request);
  if (exchange.request.stream) {
    co_await relay_stream(exchange, stream);
  } else {
    co_await relay_whole(exchange, stream);
  }
  if (stream.finished()) {
    const auto result = stream.result();
    exchange.metrics = result.metrics;
    if (exchange.outcome.empty()) exchange.outcome = outcome_of(result);
  }
}

// Never throws: whatever happens ends up in `exchange` (outcome, status, connection_usable).
asio::awaitable<void> run_exchange(Exchange& exchange) {
  std::optional<Error> failure;
  try {
    co_await answer_with_model(exchange);
    co_return;
  } catch (const Error& e) {
    failure = e;
  } catch (const boost::system::system_error&) {
    // The answer could not be written: the client is gone or the connection broke.
  }
  if (!failure || failure->is(errc::cancelled) || exchange.headers_sent) {
    exchange.connection_usable = false;
    if (exchange.outcome.empty()) exchange.outcome = "cancelled";
    co_return;
  }
  // Failed before anything was written (acquire: load failure, unknown model, overloaded pool).
  try {
    co_await refuse(exchange, api_error_from(*failure));
  } catch (const boost::system::system_error&) {
    exchange.connection_usable = false;
  }
}

// Completes when the client closes its side or the connection breaks; bytes it sends meanwhile
// (a pipelined request) are kept in `buffer` for the connection's next read.
asio::awaitable<void> watch_for_disconnect(Connection& connection, beast::flat_buffer& buffer, bool& gone) {
  for (;;) {
    if (buffer.size() + kReadChunk > kPipelinedBytesLimit) {
      asio::steady_timer forever(connection.socket.get_executor(), asio::steady_timer::time_point::max());
      co_await forever.async_wait(asio::use_awaitable);  // until the answer is done and cancels us
    }
    auto [ec, n] =
        co_await connection.socket.async_read_some(buffer.prepare(kReadChunk), asio::as_tuple(asio::use_awaitable));
    if (ec) {
      const auto state = co_await asio::this_coro::cancellation_state;
      if (state.cancelled() == asio::cancellation_type::none) gone = true;
      co_return;
    }
    buffer.commit(n);
  }
}

void record(Exchange& exchange) {
  auto& context = exchange.context;
  if (exchange.metrics.generated_tokens == 0) exchange.metrics.generated_tokens = exchange.tokens_received;
  const auto model = context.pool.serves(exchange.request.model) ? exchange.request.model : std::string();
  context.metrics.record_request(model, exchange.request.endpoint, exchange.outcome, exchange.metrics);
  const auto& m = exchange.metrics;
  context.log(fmt::format(
      "{} {} {} model={} outcome={} prompt_tokens={} cached_tokens={} completion_tokens={} "
      "queue_ms={:.1f} ttft_ms={:.1f} total_ms={:.1f}",
      std::string_view(exchange.http_request.method_string()), std::string_view(exchange.http_request.target()),
      exchange.status, exchange.request.model.empty() ? "-" : exchange.request.model, exchange.outcome, m.prompt_tokens,
      m.cached_prompt_tokens, m.generated_tokens, m.queue_wait.count() / 1e6, m.time_to_first_token.count() / 1e6,
      m.total_time.count() / 1e6));
}

ResponseIdentity identity_for(GatewayContext& context, const CompletionRequest& request) {
  ResponseIdentity identity;
  identity.id = context.next_response_id(request.endpoint == Endpoint::chat_completions ? "chatcmpl" : "cmpl");
  identity.model = request.model;
  identity.created =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  return identity;
}

}  // namespace

asio::awaitable<bool> answer_completion(GatewayContext& context, Connection& connection, beast::flat_buffer& buffer,
                                        const HttpRequest& request, Endpoint endpoint) {
  Exchange exchange(context, connection, request);
  exchange.request.endpoint = endpoint;
  if (context.options.log_requests) context.log(fmt::format("request body: {}", request.body()));
  std::optional<ApiError> refusal;
  try {
    exchange.request = parse_completion_request(endpoint, request.body(), context.options.limits);
    apply_request_headers(request, exchange.request.config);
  } catch (const ApiError& e) {
    refusal = e;
  }
  if (!refusal && !context.pool.serves(exchange.request.model)) {
    refusal = unknown_model(exchange.request.model, context.pool.names());
  }
  if (refusal) {
    try {
      co_await refuse(exchange, *refusal);
    } catch (const boost::system::system_error&) {
      exchange.connection_usable = false;
    }
  } else {
    exchange.identity = identity_for(context, exchange.request);
    bool gone = false;
    co_await (run_exchange(exchange) || watch_for_disconnect(connection, buffer, gone));
    if (gone) {
      exchange.connection_usable = false;
      if (!exchange.headers_sent) exchange.status = 499;  // nginx's "client closed request"
      exchange.outcome = "cancelled";
    }
  }
  if (exchange.status != 0) context.metrics.record_http_response(exchange.status);
  record(exchange);
  co_return exchange.connection_usable&& request.keep_alive();
}

}  // namespace inference::gateway
