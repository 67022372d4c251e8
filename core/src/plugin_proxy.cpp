#include "plugin_proxy.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <mutex>
#include <optional>
#include <type_traits>
#include <vector>

#include "inference/error.hpp"
#include "inference/stream_producer.hpp"

namespace inference {

namespace asio = boost::asio;

namespace {

// An error_code whose category object lives outside every plugin.
bool core_category(const std::error_code& code) {
  const auto& category = code.category();
  return category == error_category() || category == std::generic_category() || category == std::system_category();
}

// The exception in flight (call only inside a catch) as an Error built by core code, keeping
// the code, context and detail of an inference::Error. The original exception object and its
// type may belong to the plugin; ours can outlive the plugin's mapping.
Error error_from_plugin(const PluginLibrary& library) {
  try {
    throw;
  } catch (const Error& e) {
    if (core_category(e.code())) return Error(e.code(), e.context(), e.detail());
    return Error(errc::internal_error, library.file().string() + ": " + e.what());
  } catch (const std::exception& e) {
    return Error(errc::internal_error, library.file().string() + ": " + e.what());
  } catch (...) {
    return Error(errc::internal_error, library.file().string() + ": a non-standard exception");
  }
}

// Resumes the calling coroutine from a handler that core code posted. Asio resumes a chain of
// awaiting coroutines inline, on the stack of whatever completed the innermost operation, so
// after awaiting a plugin the caller can be running above completion handlers that the plugin
// instantiated. Were the caller to drop the last reference to the library there, returning
// into those frames would jump into unmapped code.
asio::awaitable<void> leave_plugin_stack() {
  const auto executor = co_await asio::this_coro::executor;
  co_await asio::post(executor, asio::use_awaitable);
}

// A plugin operation whose awaiting operation was cancelled failed because of that, whatever
// shape the plugin's exception had (Asio's operation_aborted, a group's multiple_exceptions):
// it is reported as Error(cancelled), keeping the plugin's words as context.
Error cancelled_if(const asio::cancellation_state& state, Error failure) {
  if (state.cancelled() == asio::cancellation_type::none || failure.is(errc::cancelled)) return failure;
  return Error(errc::cancelled, failure.context(), failure.detail());
}

// Awaits the plugin coroutine that `start` returns and hands back its result, or a core-made
// Error, from a core stack (see leave_plugin_stack). The caller keeps `library` alive.
template <typename Start>
auto await_plugin(const PluginLibrary& library, Start start) -> decltype(start()) {
  using T = typename decltype(start())::value_type;
  std::optional<Error> failure;
  if constexpr (std::is_void_v<T>) {
    try {
      co_await start();
    } catch (...) {
      failure = error_from_plugin(library);
    }
    // The hop is needed even when the awaiting operation was cancelled, when Asio would refuse
    // to start it (co_await throws operation_aborted while throw_if_cancelled is set).
    const bool throw_if_cancelled = co_await asio::this_coro::throw_if_cancelled();
    co_await asio::this_coro::throw_if_cancelled(false);
    co_await leave_plugin_stack();
    co_await asio::this_coro::throw_if_cancelled(throw_if_cancelled);
    // Not `throw f(co_await ...)`: g++ 12 miscompiles a co_await inside a throw expression.
    const asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
    if (failure) throw cancelled_if(cancellation, std::move(*failure));
  } else {
    std::optional<T> result;
    try {
      result.emplace(co_await start());
    } catch (...) {
      failure = error_from_plugin(library);
    }
    // The hop is needed even when the awaiting operation was cancelled, when Asio would refuse
    // to start it (co_await throws operation_aborted while throw_if_cancelled is set).
    const bool throw_if_cancelled = co_await asio::this_coro::throw_if_cancelled();
    co_await asio::this_coro::throw_if_cancelled(false);
    co_await leave_plugin_stack();
    co_await asio::this_coro::throw_if_cancelled(throw_if_cancelled);
    // Not `throw f(co_await ...)`: g++ 12 miscompiles a co_await inside a throw expression.
    const asio::cancellation_state cancellation = co_await asio::this_coro::cancellation_state;
    if (failure) throw cancelled_if(cancellation, std::move(*failure));
    co_return std::move(*result);
  }
}

enum class Quote { with_check_name, as_is };

// Runs a plugin's check; an exception is a "no" with its message (copied out: the exception
// object may be the plugin's), after "<check> threw: " unless quoted as is.
template <typename Check>
Availability ask_plugin(std::string_view check_name, Quote quote, Check check) {
  try {
    return check();
  } catch (const std::exception& e) {
    const std::string prefix = quote == Quote::with_check_name ? std::string(check_name) + " threw: " : "";
    return Availability::no(prefix + e.what());
  } catch (...) {
    return Availability::no(std::string(check_name) + " threw a non-standard exception");
  }
}

// A plugin's backend and its library, as one coroutine parameter (see ModelRemains for why).
struct BackendRef {
  std::shared_ptr<const PluginLibrary> library;
  std::shared_ptr<Backend> backend;
};

// The frame owns the backend and its library, so it does not matter whether the caller keeps
// the PluginBackend alive while the plugin's coroutine runs.
asio::awaitable<std::shared_ptr<TextModel>> load_through(BackendRef ref, std::string path, LoadOptions options) {
  const auto keep_mapped = std::move(ref.library);
  const auto plugin_backend = std::move(ref.backend);
  const auto executor = co_await asio::this_coro::executor;
  auto model = co_await await_plugin(*keep_mapped,
                                     [&] { return plugin_backend->load_model(std::move(path), std::move(options)); });
  if (!model) {
    throw Error(errc::internal_error,
                keep_mapped->file().string() + ": backend " + plugin_backend->name() + " returned no model");
  }
  co_return std::make_shared<PluginModel>(keep_mapped, std::move(model), executor);
}

}  // namespace

// ---------------------------------------------------------------- PluginBackend

PluginBackend::PluginBackend(std::shared_ptr<const PluginLibrary> library, std::shared_ptr<Backend> inner)
    : library_(std::move(library)), inner_(std::move(inner)), name_(inner_->name()), priority_(inner_->priority()) {}

Availability PluginBackend::available() const {
  return ask_plugin("the availability check", Quote::with_check_name, [&] { return inner_->available(); });
}

Availability PluginBackend::available_with(const LoadOptions& options) const {
  return ask_plugin("the availability check", Quote::with_check_name, [&] { return inner_->available_with(options); });
}

Availability PluginBackend::preflight(const std::string& path, const LoadOptions& options) const {
  // A preflight's exception is its verdict ("model file not found"), quoted as it is.
  return ask_plugin("the preflight check", Quote::as_is, [&] { return inner_->preflight(path, options); });
}

asio::awaitable<std::shared_ptr<TextModel>> PluginBackend::load_model(std::string path, LoadOptions options) {
  BackendRef ref{library_, inner_};
  return load_through(std::move(ref), std::move(path), std::move(options));
}

// ---------------------------------------------------------------- PluginModel

PluginModel::PluginModel(std::shared_ptr<const PluginLibrary> library, std::shared_ptr<TextModel> inner,
                         asio::any_io_executor executor)
    : library_(std::move(library)),
      inner_(std::move(inner)),
      executor_(std::move(executor)),
      // A strand (the executor a coroutine on a strand loads from) must not outlive its context.
      context_(executor_, [this] { executor_ = asio::any_io_executor(); }) {}

PluginModel::~PluginModel() {
  // Never release the library here: this may run on a stack that holds plugin frames (a stream's
  // producer, resumed by the plugin's own I/O, dropping the last anchor). And a model nobody
  // closed may leave background work behind when merely destroyed (a server process being
  // reaped, a socket being shut down) that would run plugin code after the unmapping. So the
  // rest happens in a coroutine of core code on the load executor: close (unless done), destroy
  // the model, and only then, from a core stack, release the library.
  if (context_.shut_down()) {
    // The context is gone (a model kept in a global, destroyed after its io_context), so
    // nothing can run there: destroy the model here, whose destructor stops its child processes
    // synchronously. The library is pinned rather than released: this may run while the
    // context's handlers are being destroyed, some of them plugin frames, so it stays mapped
    // until the process exits.
    inner_.reset();
    // Never freed: a model in a global is destroyed after function-local statics.
    static auto* pinned_mutex = new std::mutex();
    static auto* pinned = new std::vector<std::shared_ptr<const PluginLibrary>>();
    std::lock_guard lock(*pinned_mutex);
    pinned->push_back(std::move(library_));
    return;
  }
  // A context that is only stopped runs the close when the host runs it again; if it is
  // destroyed instead, the queued close is destroyed with it, and with it the model, whose
  // destructor stops its processes synchronously.
  ModelRemains remains{std::move(library_), close_requested_ ? nullptr : std::move(inner_)};
  inner_.reset();  // closed already: only its destructor is left, and the library is still held
  try {
    asio::co_spawn(executor_, close_and_release(std::move(remains)), asio::detached);
  } catch (...) {
    // Could not even start it (out of memory): the model goes first, then the library, which is
    // the best left to do.
  }
}

TokenStream PluginModel::generate(std::string prompt, GenerateConfig config) {
  // Checked here too, so that a plugin that does not check gets no out-of-range value.
  if (auto invalid = validate_for_prompt(config)) return failed_stream(*invalid);
  TokenStream stream = inner_->generate(std::move(prompt), std::move(config));
  // The proxy, not just the library: a running stream keeps its model open (text_model.hpp),
  // so the implicit close in ~PluginModel must wait for the streams too.
  stream.attach_anchor(shared_from_this());
  return stream;
}

TokenStream PluginModel::generate_tokens(std::vector<int32_t> prompt, GenerateConfig config) {
  if (auto invalid = validate_for_prompt(config)) return failed_stream(*invalid);
  TokenStream stream = inner_->generate_tokens(std::move(prompt), std::move(config));
  stream.attach_anchor(shared_from_this());
  return stream;
}

TokenStream PluginModel::chat(std::vector<Message> messages, GenerateConfig config) {
  if (auto invalid = validate(config)) return failed_stream(*invalid);
  TokenStream stream = inner_->chat(std::move(messages), std::move(config));
  stream.attach_anchor(shared_from_this());
  return stream;
}

// The coroutines below hold `self`: the plugin's coroutine frame is plugin code and must not
// outlive the library, even when the caller drops its reference meanwhile.

asio::awaitable<std::vector<ClassifyResult>> PluginModel::classify(std::vector<std::string> prompts,
                                                                   GenerateConfig config) {
  if (auto invalid = validate(config)) throw *invalid;
  const auto self = shared_from_this();
  co_return co_await await_plugin(*library_, [&] { return inner_->classify(std::move(prompts), std::move(config)); });
}

asio::awaitable<std::vector<BatchResult>> PluginModel::batch_generate(std::vector<std::string> prompts,
                                                                      GenerateConfig config) {
  if (auto invalid = validate(config)) throw *invalid;
  const auto self = shared_from_this();
  co_return co_await await_plugin(*library_,
                                  [&] { return inner_->batch_generate(std::move(prompts), std::move(config)); });
}

asio::awaitable<std::vector<Token>> PluginModel::tokenize(std::string text, bool add_special) {
  const auto self = shared_from_this();
  co_return co_await await_plugin(*library_, [&] { return inner_->tokenize(std::move(text), add_special); });
}

asio::awaitable<std::string> PluginModel::detokenize(std::vector<int32_t> ids) {
  const auto self = shared_from_this();
  co_return co_await await_plugin(*library_, [&] { return inner_->detokenize(std::move(ids)); });
}

asio::awaitable<std::vector<Embedding>> PluginModel::embed(std::vector<std::string> inputs) {
  const auto self = shared_from_this();
  co_return co_await await_plugin(*library_, [&] { return inner_->embed(std::move(inputs)); });
}

asio::awaitable<std::vector<RerankScore>> PluginModel::rerank(std::string query, std::vector<std::string> documents) {
  const auto self = shared_from_this();
  co_return co_await await_plugin(*library_, [&] { return inner_->rerank(std::move(query), std::move(documents)); });
}

asio::awaitable<void> PluginModel::reload(std::string path, LoadOptions options) {
  const auto self = shared_from_this();
  co_await await_plugin(*library_, [&] { return inner_->reload(std::move(path), std::move(options)); });
}

asio::awaitable<void> PluginModel::close() {
  const auto self = shared_from_this();
  close_requested_ = true;
  co_await await_plugin(*library_, [&] { return inner_->close(); });
}

// ---------------------------------------------------------------- close_and_release

asio::awaitable<void> close_and_release(ModelRemains remains) {
  // Locals, so that the model goes as soon as it is closed, and the library last.
  const auto keep_mapped = std::move(remains.library);
  {
    const auto model = std::move(remains.model);
    // co_spawn may start us inside ~PluginModel; run no plugin code there.
    co_await leave_plugin_stack();
    if (model) {
      try {
        co_await model->close();
      } catch (...) {
        // Nobody is left to report to: the owner dropped the model. The exception object is
        // destroyed here, while the library is still mapped.
      }
    }
  }
  co_await leave_plugin_stack();
}

}  // namespace inference
