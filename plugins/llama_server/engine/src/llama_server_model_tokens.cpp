// LlamaServerModel's tokenize() and detokenize(): llama-server's /tokenize and /detokenize on a
// serving replica, outside the slot pool. The server answers them on its HTTP threads without a
// slot, so they answer while every slot generates; taking a slot (or queueing for one) would make
// counting a prompt's tokens wait for someone else's generation.
#include <boost/asio/error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/system/system_error.hpp>

#include "inference/error.hpp"
#include "inference/llama_server/http_connection.hpp"
#include "inference/llama_server/llama_server_model.hpp"
#include "inference/llama_server/request_params.hpp"
#include "inference/llama_server/tokenize_request.hpp"

namespace inference::llama_server {

namespace asio = boost::asio;

namespace {

// The bound on an answer, per unit asked about (a byte of text, an id), above the usual bound of
// a whole body: a /tokenize entry is {"id":…,"piece":…} (about 25 bytes plus its piece, escaped
// at up to 6 bytes a byte); an id's text is at most a vocabulary piece.
constexpr std::size_t kAnswerBytesPerUnit = 256;

std::size_t answer_limit(std::size_t units) { return HttpLimits::kDefaultMaxBodyBytes + units * kAnswerBytesPerUnit; }

}  // namespace

// A replica whose server serves right now, the replicas taken in turn; when none does (every one
// restarting), the first that has not given up, once it serves again.
asio::awaitable<std::shared_ptr<ServerInstance>> LlamaServerModel::any_serving_instance() {
  const uint32_t count = replicas_->size();
  const uint32_t first = next_token_replica_.fetch_add(1, std::memory_order_relaxed) % count;
  std::shared_ptr<ServerSupervisor> waitable;
  for (uint32_t i = 0; i < count; ++i) {
    const std::shared_ptr<ServerSupervisor> supervisor = replicas_->supervisor((first + i) % count);
    if (!supervisor) continue;
    std::shared_ptr<ServerInstance> instance = supervisor->current();
    if (instance && instance->process && !instance->process->exit_status()) co_return instance;
    if (!waitable && !supervisor->failed()) waitable = supervisor;
  }
  if (!waitable) {
    if (std::optional<Error> failure = replicas_->model_failure()) throw std::move(*failure);
    throw Error(errc::closed, "llama-server model: no replica serves");
  }
  co_return co_await waitable->acquire_instance();
}

asio::awaitable<std::string> LlamaServerModel::ask_any_server(std::string_view what, std::string_view target,
                                                              std::string body, std::size_t max_answer_bytes) {
  if (closed_.load()) throw Error(errc::closed, "llama-server model: " + std::string(what));
  if (context_.shut_down()) {
    throw Error(errc::closed, "llama-server model: its io_context was destroyed: " + std::string(what));
  }
  try {
    const std::shared_ptr<ServerInstance> instance = co_await any_serving_instance();
    HttpLimits limits;
    limits.max_body_bytes = max_answer_bytes;
    HttpConnection connection(co_await asio::this_coro::executor, instance->process->endpoint(), limits);
    HttpResponse response = co_await connection.request(HttpMethod::post, target, body);
    co_return std::move(response.body);
  } catch (const Error& e) {
    // The server stopped under the request because the model is closing: say so, not "reset".
    if (e.is(errc::cancelled) || !closed_.load()) throw;
  } catch (const boost::system::system_error& e) {
    // Cancelled between two operations: Asio refuses to start the next one.
    if (e.code() != asio::error::operation_aborted) throw;
    throw Error(errc::cancelled, "llama-server model: " + std::string(what));
  }
  throw Error(errc::closed, "llama-server model closed during " + std::string(what));
}

asio::awaitable<std::vector<Token>> LlamaServerModel::tokenize(std::string text, bool add_special) {
  if (text.size() > kMaxTokenizeBytes) {
    throw Error(errc::invalid_argument, "tokenize(): the text has " + std::to_string(text.size()) +
                                            " bytes, more than the " + std::to_string(kMaxTokenizeBytes) +
                                            " one call takes");
  }
  const std::string answer = co_await ask_any_server(
      "tokenize()", "/tokenize", tokenize_request_body(text, add_special), answer_limit(text.size()));
  std::vector<TokenPiece> pieces = parse_tokenize_response(answer);
  std::vector<Token> tokens;
  tokens.reserve(pieces.size());
  for (TokenPiece& piece : pieces) {
    Token token;
    token.id = piece.id;
    token.text = std::move(piece.piece);
    tokens.push_back(std::move(token));
  }
  co_return tokens;
}

asio::awaitable<std::string> LlamaServerModel::detokenize(std::vector<int32_t> ids) {
  if (ids.size() > kMaxDetokenizeIds) {
    throw Error(errc::invalid_argument, "detokenize(): " + std::to_string(ids.size()) + " ids, more than the " +
                                            std::to_string(kMaxDetokenizeIds) + " one call takes");
  }
  if (auto invalid = check_token_ids(ids, settings()->info.vocab_size, "detokenize()")) throw std::move(*invalid);
  const std::string answer =
      co_await ask_any_server("detokenize()", "/detokenize", detokenize_request_body(ids), answer_limit(ids.size()));
  co_return parse_detokenize_response(answer);
}

}  // namespace inference::llama_server
