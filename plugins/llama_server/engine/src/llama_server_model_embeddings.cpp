// LlamaServerModel's embeddings and reranking: a model loaded with the embeddings (or reranking)
// backend option answers embed() (rerank()) and refuses generation. Each input is one request on
// a slot of its own, so a batch spreads over every slot of every replica like concurrent
// generations do; the generation path is in llama_server_model.cpp.
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/deferred.hpp>
#include <boost/asio/experimental/parallel_group.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "inference/error.hpp"
#include "inference/llama_server/embedding_request.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "inference/llama_server/server_error.hpp"
#include "llama_server_exchange.hpp"

namespace inference::llama_server {

namespace asio = boost::asio;

namespace {

// OpenAI's own bound on the inputs of one embeddings request: a batch beyond it is a mistake.
constexpr size_t kMaxItems = 2048;
// Far beyond any context a server slot holds (the server refuses what does not fit its slot),
// yet a bound on what one call may ask the engine to copy around.
constexpr size_t kMaxItemBytes = 1 << 20;

const std::string kLoadForEmbeddings = "load it with the backend option embeddings=true";
// What llama-server build 11669 answers /v1/embeddings when its pooling is none (400), and when
// an input does not fit its batch (a 500, though the input is at fault).
constexpr std::string_view kPoolingNoneAnswer = "not OAI compatible";
constexpr std::string_view kTooLargeAnswer = "too large to process";
const std::string kPoolingAdvice = "load it with the backend option pooling=mean, cls or last";

void check_items(const std::vector<std::string>& items, const std::string& what) {
  if (items.size() > kMaxItems) {
    throw Error(errc::invalid_argument,
                std::to_string(items.size()) + " " + what + "s: at most " + std::to_string(kMaxItems) + " in one call");
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].empty()) throw Error(errc::invalid_argument, what + " " + std::to_string(i) + " is empty");
    if (items[i].size() > kMaxItemBytes) {
      throw Error(errc::invalid_argument, what + " " + std::to_string(i) + " has " + std::to_string(items[i].size()) +
                                              " bytes: at most " + std::to_string(kMaxItemBytes));
    }
  }
}

// The server refused one item: a 4xx names the item's fault, except the refusal of pooling none.
Error classify_refusal(const ServerError& refusal, const std::string& item) {
  if (refusal.server_message().find(kPoolingNoneAnswer) != std::string::npos) {
    return Error(
        errc::unsupported,
        item + ": the model pools with none (one vector per token), which embed() does not return: " + kPoolingAdvice);
  }
  const bool too_large = refusal.server_message().find(kTooLargeAnswer) != std::string::npos;
  if (too_large || (refusal.status() >= 400 && refusal.status() < 500)) {
    return Error(errc::invalid_argument, item + ": llama-server refused it: " + refusal.server_message());
  }
  return refusal;
}

}  // namespace

std::optional<Error> LlamaServerModel::refuse_generation() const {
  const EngineOptions& engine = settings()->engine;
  if (!engine.serves_embeddings()) return std::nullopt;
  return Error(errc::unsupported, std::string("generation on a model loaded for ") +
                                      (engine.reranking ? "reranking" : "embeddings") +
                                      " (its server answers nothing else): load it without the backend option " +
                                      (engine.reranking ? "reranking" : "embeddings"));
}

asio::awaitable<std::vector<Embedding>> LlamaServerModel::embed(std::vector<std::string> inputs) {
  const std::shared_ptr<const Settings> settings = this->settings();
  if (!settings->engine.embeddings || settings->engine.reranking) {
    throw Error(errc::unsupported, std::string("embed() on a model loaded ") +
                                       (settings->engine.reranking ? "for reranking" : "to generate") + ": " +
                                       kLoadForEmbeddings);
  }
  if (settings->engine.pooling == "none") {
    throw Error(errc::unsupported,
                "embed() on a model loaded with pooling=none (one vector per token): " + kPoolingAdvice);
  }
  check_items(inputs, "embed() input");
  std::vector<std::string> bodies;
  bodies.reserve(inputs.size());
  for (const std::string& input : inputs) bodies.push_back(embedding_request_body(input));
  const std::vector<std::string> answers = co_await post_each("/v1/embeddings", std::move(bodies), "embed() input");
  std::vector<Embedding> embeddings;
  embeddings.reserve(answers.size());
  for (const std::string& answer : answers) {
    embeddings.push_back(parse_embedding_response(answer));
    const size_t dimension = embeddings.back().values.size();
    if (dimension != settings->info.embedding_length) {
      throw Error(errc::protocol_error, "llama-server answered a vector of " + std::to_string(dimension) +
                                            " values for a model of embedding_length " +
                                            std::to_string(settings->info.embedding_length));
    }
  }
  co_return embeddings;
}

asio::awaitable<std::vector<RerankScore>> LlamaServerModel::rerank(std::string query,
                                                                   std::vector<std::string> documents) {
  if (!settings()->engine.reranking) {
    throw Error(errc::unsupported, "rerank() on a model loaded without the backend option reranking=true");
  }
  if (query.empty()) throw Error(errc::invalid_argument, "rerank() query is empty");
  check_items(documents, "rerank() document");
  std::vector<std::string> bodies;
  bodies.reserve(documents.size());
  for (const std::string& document : documents) bodies.push_back(rerank_request_body(query, document));
  const std::vector<std::string> answers = co_await post_each("/rerank", std::move(bodies), "rerank() document");
  std::vector<RerankScore> scores;
  scores.reserve(answers.size());
  for (const std::string& answer : answers) {
    scores.push_back(RerankScore{static_cast<uint32_t>(scores.size()), parse_rerank_response(answer)});
  }
  co_return scores;
}

// The requests of one call, on one strand (the group's too, so the group's cancellation reaches
// them on the strand they run on), in the order of the bodies.
asio::awaitable<std::vector<std::string>> LlamaServerModel::run_all(std::vector<std::string> bodies, std::string target,
                                                                    std::string what) {
  const auto strand = co_await asio::this_coro::executor;
  using Spawned = decltype(asio::co_spawn(strand, std::declval<asio::awaitable<std::string>>(), asio::deferred));
  std::vector<Spawned> requests;
  for (size_t i = 0; i < bodies.size(); ++i) {
    requests.push_back(
        asio::co_spawn(strand, post_one(target, bodies[i], what + " " + std::to_string(i)), asio::deferred));
  }
  auto [order, failures, answers] = co_await asio::experimental::make_parallel_group(std::move(requests))
                                        .async_wait(asio::experimental::wait_for_one_error(), asio::use_awaitable);
  // The first failure is the cause; the requests it cancelled failed after it.
  for (const size_t index : order) {
    if (failures[index]) std::rethrow_exception(failures[index]);
  }
  co_return std::move(answers);
}

// The caller's cancellation reaches the strand through a signal both sides own: Boost 1.81's
// co_spawn forwards a cancellation to another executor with a raw pointer that may dangle once
// the operation completed (docs/architecture.md, toolchain notes), so it is not left to co_spawn.
asio::awaitable<std::vector<std::string>> LlamaServerModel::post_each(std::string target,
                                                                      std::vector<std::string> bodies,
                                                                      std::string what) {
  if (bodies.empty()) co_return std::vector<std::string>{};
  if (closed_.load()) throw Error(errc::closed, "llama-server model");
  if (context_.shut_down()) throw Error(errc::closed, "llama-server model: its io_context was destroyed");
  const auto strand = asio::make_strand(executor_);
  const auto signal = std::make_shared<asio::cancellation_signal>();
  asio::cancellation_slot caller = (co_await asio::this_coro::cancellation_state).slot();
  if (caller.is_connected()) {
    caller.assign(
        [signal, strand](asio::cancellation_type type) { asio::post(strand, [signal, type] { signal->emit(type); }); });
  }
  auto answers =
      co_await asio::co_spawn(strand, run_all(std::move(bodies), std::move(target), std::move(what)),
                              asio::bind_cancellation_slot(signal->slot(), asio::as_tuple(asio::use_awaitable)));
  if (caller.is_connected()) caller.clear();
  if (std::get<0>(answers)) std::rethrow_exception(std::get<0>(answers));
  co_return std::move(std::get<1>(answers));
}

// One item on a slot of its own, placed like a generation without a session or prefix.
asio::awaitable<std::string> LlamaServerModel::post_one(const std::string& target, const std::string& body,
                                                        std::string item) {
  SlotLease lease = co_await acquire_slot(SlotRequest{});
  Exchange exchange(co_await asio::this_coro::executor);
  exchange.replica = lease.replica();
  exchange.supervisor = replicas_->supervisor(lease.replica());
  co_await connect(exchange);
  std::exception_ptr failure;
  std::error_code failure_code;
  try {
    throw_if_closing();
    HttpResponse answer = co_await exchange.connection->request(HttpMethod::post, target, body);
    co_return std::move(answer.body);
  } catch (const ServerError& refusal) {
    failure = std::make_exception_ptr(classify_refusal(refusal, item));
    failure_code = refusal.code();
  } catch (const Error& e) {
    if (e.is(errc::cancelled)) throw;
    failure = std::current_exception();
    failure_code = e.code();
  }
  exchange.activity.reset();
  if (std::optional<Error> cause =
          co_await failure_cause(false, *exchange.supervisor, *exchange.instance, failure_code)) {
    if (server_died(*cause)) {
      replicas_->instance_died(exchange.replica, *exchange.instance);
    }
    throw std::move(*cause);
  }
  std::rethrow_exception(failure);
}

}  // namespace inference::llama_server
