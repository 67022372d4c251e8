#include "inference/text_model.hpp"

#include <boost/asio/error.hpp>
#include <boost/system/system_error.hpp>

#include "inference/error.hpp"
#include "inference/stream_producer.hpp"

namespace inference {

namespace asio = boost::asio;

namespace {

// classify() asks for this many alternatives when the caller did not say.
constexpr int32_t kDefaultClassifyAlternatives = 5;

// Drains one stream into a BatchResult; a failure is recorded, not thrown, so one bad prompt
// does not lose the others' results.
asio::awaitable<BatchResult> collect(TokenStream& stream) {
  BatchResult out;
  try {
    while (auto token = co_await stream.next()) {
      out.text += token->text;
      out.tokens.push_back(std::move(*token));
    }
  } catch (const Error& e) {
    // The streams are the batch's own, so a cancelled next() means the batch was cancelled: it
    // ends here, and destroying the other streams cancels their requests.
    if (e.is(errc::cancelled)) throw;
  }
  out.result = stream.result();
  co_return out;
}

}  // namespace

asio::awaitable<std::vector<BatchResult>> TextModel::batch_generate(std::vector<std::string> prompts,
                                                                    GenerateConfig config) {
  if (auto invalid = validate_for_prompt(config)) throw *invalid;
  // Every request is admitted before the first is read: they run across all slots in
  // parallel, and reading them in order only waits for work that is already under way.
  std::vector<TokenStream> streams;
  streams.reserve(prompts.size());
  for (auto& prompt : prompts) streams.push_back(generate(std::move(prompt), config));
  std::vector<BatchResult> results;
  results.reserve(streams.size());
  try {
    for (auto& stream : streams) results.push_back(co_await collect(stream));
  } catch (const boost::system::system_error& e) {
    // Cancelled between two prompts: Asio refuses to start the next operation.
    if (e.code() != asio::error::operation_aborted) throw;
    throw Error(errc::cancelled, "batch_generate");
  }
  co_return results;
}

asio::awaitable<std::vector<ClassifyResult>> TextModel::classify(std::vector<std::string> prompts,
                                                                 GenerateConfig config) {
  if (auto invalid = validate_for_prompt(config)) throw *invalid;
  config.max_tokens = 1;
  if (config.logprobs <= 0) config.logprobs = kDefaultClassifyAlternatives;
  auto batch = co_await batch_generate(std::move(prompts), std::move(config));
  std::vector<ClassifyResult> results;
  results.reserve(batch.size());
  for (auto& item : batch) {
    ClassifyResult r;
    if (!item.tokens.empty()) r.token = std::move(item.tokens.front());
    r.result = std::move(item.result);
    results.push_back(std::move(r));
  }
  co_return results;
}

TokenStream TextModel::generate_tokens(std::vector<int32_t> /*prompt*/, GenerateConfig /*config*/) {
  return failed_stream(make_error_code(errc::unsupported),
                       "a prompt of token ids on a " + model_type() + " model of this backend");
}

asio::awaitable<std::vector<Token>> TextModel::tokenize(std::string /*text*/, bool /*add_special*/) {
  throw Error(errc::unsupported, "tokenize() on a " + model_type() + " model of this backend");
  co_return std::vector<Token>{};
}

asio::awaitable<std::string> TextModel::detokenize(std::vector<int32_t> /*ids*/) {
  throw Error(errc::unsupported, "detokenize() on a " + model_type() + " model of this backend");
  co_return std::string{};
}

asio::awaitable<std::vector<Embedding>> TextModel::embed(std::vector<std::string> /*inputs*/) {
  throw Error(errc::unsupported, "embed() on a " + model_type() + " model of this backend");
  co_return std::vector<Embedding>{};
}

asio::awaitable<std::vector<RerankScore>> TextModel::rerank(std::string /*query*/,
                                                            std::vector<std::string> /*documents*/) {
  throw Error(errc::unsupported, "rerank() on a " + model_type() + " model of this backend");
  co_return std::vector<RerankScore>{};
}

asio::awaitable<void> TextModel::reload(std::string /*path*/, LoadOptions /*options*/) {
  throw Error(errc::unsupported, "reload() on a " + model_type() + " model of this backend");
  co_return;
}

}  // namespace inference
