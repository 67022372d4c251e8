// TextModel: a loaded model that generates text. Obtained from Backend::load_model() and
// shared (std::shared_ptr) between any number of concurrent users.
//
// Work starts immediately: generate() and chat() return a TokenStream at once and the request
// is admitted (queued for a slot) right away, before the first co_await on the stream. This
// makes queue_wait and time_to_first_token honest and lets many streams run in parallel.
//
// Thread-safety: every member function may be called from any thread concurrently. Streams
// run on the executor the model was loaded on (the executor of the load_model() coroutine);
// consumers may await them from any executor.
//
// Lifetime: streams keep the model alive while they run. close() stops admitting requests,
// ends the in-flight ones (Error(closed)) and releases the backend's resources (processes,
// sockets); destroying the last reference without close() releases them too.
//
// Rules for host applications:
// - An idle model is no outstanding work on the io_context it was loaded on, like a socket with
//   no pending operation: io_context::run() returns once the host's own work (loads, streams,
//   close) is done, even while a model stays loaded. Backends that watch something in the
//   background (e.g. a backend supervising its child process) do that on a thread of their
//   own. Streams keep run() busy while they are open.
// - A model may outlive its io_context (a global, a member of an object destroyed later). When
//   the io_context is destroyed, the model stops its processes synchronously and lets go of
//   everything bound to that context; later requests fail with Error(closed), and destroying
//   it is safe (its plugin then stays mapped until the process exits). A model dropped while
//   its io_context is merely stopped is closed when the host runs that io_context again, or
//   stopped synchronously when the io_context is destroyed. TokenStreams must not outlive
//   their io_context.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <string>
#include <vector>

#include "inference/generate_config.hpp"
#include "inference/load_options.hpp"
#include "inference/model_info.hpp"
#include "inference/token_stream.hpp"
#include "inference/types.hpp"

namespace inference {

class TextModel {
 public:
  virtual ~TextModel() = default;

  // A config that validate() refuses gives, before any work, a stream whose first next() throws
  // that Error(invalid_argument) naming the field. Implementations check it on entry.
  virtual TokenStream generate(std::string prompt, GenerateConfig config) = 0;
  virtual TokenStream chat(std::vector<Message> messages, GenerateConfig config) = 0;

  // One next token per prompt with its top-N alternatives (config.logprobs, default 5), all
  // prompts in parallel. The default runs generate() with max_tokens = 1. Throws
  // Error(invalid_argument) at once when validate() refuses the config.
  virtual boost::asio::awaitable<std::vector<ClassifyResult>> classify(std::vector<std::string> prompts,
                                                                       GenerateConfig config);

  // Every prompt's full generation, all admitted at once so they run across all slots in
  // parallel. A failed prompt reports its error in its BatchResult; the others still complete.
  // Throws Error(invalid_argument) before admitting anything when validate() refuses the config.
  // Cancellation: Asio per-operation cancellation of the awaiting operation cancels every prompt
  // not finished yet (queued ones leave the queue, running ones stop and free their slots) and
  // ends the batch with Error(cancelled); no partial results are returned. classify() likewise.
  virtual boost::asio::awaitable<std::vector<BatchResult>> batch_generate(std::vector<std::string> prompts,
                                                                          GenerateConfig config);

  // A prompt given as token ids, used as they are (no BOS added, nothing re-tokenised): e.g. ids
  // from tokenize(), edited. Otherwise like generate(). Ids outside the vocabulary are refused
  // with Error(invalid_argument). The default gives a stream that fails with Error(unsupported).
  virtual TokenStream generate_tokens(std::vector<int32_t> prompt, GenerateConfig config);

  // Text to the model's token ids, each with its text piece (Token::top empty), and back. They
  // never take a slot: they answer while every slot is busy generating. add_special adds what
  // the model puts before a prompt (e.g. BOS), as generate() does. Cancellation: Asio
  // per-operation cancellation ends them with Error(cancelled). The defaults throw
  // Error(unsupported).
  virtual boost::asio::awaitable<std::vector<Token>> tokenize(std::string text, bool add_special);
  virtual boost::asio::awaitable<std::string> detokenize(std::vector<int32_t> ids);

  // Embeddings, for a model loaded for them (the llama-server engine: backend option
  // embeddings=true): one vector per input, in order, the inputs spread across the slots like
  // concurrent requests (queued, bounded by queue_limit). A model loaded to generate refuses with
  // Error(unsupported) saying how to load it; an empty input is Error(invalid_argument).
  // Cancellation: Asio per-operation cancellation ends the call with Error(cancelled) and frees
  // the slots. The default throws Error(unsupported).
  virtual boost::asio::awaitable<std::vector<Embedding>> embed(std::vector<std::string> inputs);

  // Relevance of each document to the query, for a reranker model loaded for it (the
  // llama-server engine: backend option reranking=true), in the order of the documents.
  // Otherwise as embed().
  virtual boost::asio::awaitable<std::vector<RerankScore>> rerank(std::string query,
                                                                  std::vector<std::string> documents);

  virtual ModelInfo info() const = 0;
  virtual std::string model_type() const = 0;  // the architecture, e.g. "llama"
  virtual ModelStats stats() const = 0;

  // Replaces what serves the model (a new model file, or new load options) while it keeps
  // serving: a backend with several replicas replaces them one at a time, each drained of its
  // requests before it stops, so a steady stream of requests sees no error and at most one
  // replica's capacity is missing at any moment (with one replica, requests wait in the queue
  // while it is replaced). Checks first what can be checked without stopping anything (the
  // file, the options, whether it fits); a failure then leaves the model as it was. What a
  // reload may not change (e.g. the number of slots or replicas) is refused with
  // Error(invalid_argument) naming it. When a replacement fails to start, the previous server
  // is started again where possible and the error is thrown. The default throws
  // Error(unsupported). Cancellation: per-operation cancellation stops after the replica being
  // replaced (the model keeps serving, perhaps with replicas of both generations) and throws
  // Error(cancelled). Thread-safety: one reload at a time; a second one while the first runs
  // fails with Error(invalid_argument).
  virtual boost::asio::awaitable<void> reload(std::string path, LoadOptions options);

  // Stops admitting requests, ends the in-flight ones and releases the backend's resources (see
  // Lifetime above). Cancellation: Asio per-operation cancellation of the awaiting operation ends
  // close() early with Error(cancelled) but never reopens the model: it already refuses new
  // requests, a later close() returns at once, and what close() had not stopped yet (a child
  // process still in its shutdown grace, requests it was draining) is stopped at once when the
  // model is destroyed (a killed child may then be reaped only later). So cancelling trades the
  // graceful end for an abrupt one; a backend's own options (e.g. a shutdown grace) are the way
  // to bound a graceful close().
  virtual boost::asio::awaitable<void> close() = 0;
};

}  // namespace inference
