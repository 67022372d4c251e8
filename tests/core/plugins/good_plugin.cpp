// libbackend_testgood.so: a well-behaved plugin. Its model streams kTokens and its close()
// finishes only after a suspension, like a real backend waiting for its background work.
// Two C functions let the test watch its objects from outside.
#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <string_view>

#include "inference/backend.hpp"
#include "inference/error.hpp"
#include "inference/plugin_abi.hpp"
#include "inference/stream_producer.hpp"

namespace {

namespace asio = boost::asio;
using namespace inference;

constexpr const char* kTokens[] = {"a", "b", "c"};
// load_model() of this path fails with model_not_found.
constexpr std::string_view kMissingModel = "missing.gguf";
// load_model() of this path fails with child_start_failed and the "server's" last lines.
constexpr std::string_view kRefusedModel = "refused.gguf";
constexpr const char* kRefusalOutput = "loading the model\nerror: out of memory";

std::atomic<int> live_objects{0};
std::atomic<int> close_calls{0};

// Counts the backend and model instances alive.
struct Counted {
  Counted() { ++live_objects; }
  Counted(const Counted&) = delete;
  Counted& operator=(const Counted&) = delete;
  ~Counted() { --live_objects; }
};

class GoodModel final : public TextModel, public std::enable_shared_from_this<GoodModel>, Counted {
 public:
  GoodModel(std::string path, asio::any_io_executor executor)
      : path_(std::move(path)), executor_(std::move(executor)) {}

  TokenStream generate(std::string, GenerateConfig) override {
    // The body owns the model: the stream keeps it alive while it runs.
    return spawn_stream(executor_, {},
                        [self = shared_from_this()](StreamWriter& writer) -> asio::awaitable<FinishReason> {
                          int32_t id = 0;
                          for (const char* text : kTokens) {
                            // A named token: g++ 12 miscompiles an aggregate temporary passed to a co_await'ed call.
                            Token token{id++, text, {}};
                            co_await writer.push(std::move(token));
                          }
                          co_return FinishReason::length;
                        });
  }
  TokenStream chat(std::vector<Message>, GenerateConfig config) override { return generate({}, std::move(config)); }
  // Each byte is a token whose id is the byte's value; an embedding is the input's length.
  asio::awaitable<std::vector<Token>> tokenize(std::string text, bool) override {
    std::vector<Token> tokens;
    for (const char c : text) tokens.push_back(Token{static_cast<int32_t>(c), std::string(1, c), {}});
    co_return tokens;
  }
  asio::awaitable<std::string> detokenize(std::vector<int32_t> ids) override {
    std::string text;
    for (const int32_t id : ids) text += static_cast<char>(id);
    co_return text;
  }
  asio::awaitable<std::vector<Embedding>> embed(std::vector<std::string> inputs) override {
    std::vector<Embedding> vectors;
    for (const auto& input : inputs) vectors.push_back(Embedding{{static_cast<float>(input.size())}, input.size()});
    co_return vectors;
  }
  ModelInfo info() const override {
    ModelInfo info;
    info.path = path_;
    return info;
  }
  std::string model_type() const override { return "testgood"; }
  ModelStats stats() const override { return {}; }
  asio::awaitable<void> close() override {
    co_await asio::post(executor_, asio::use_awaitable);
    ++close_calls;
  }

 private:
  std::string path_;
  asio::any_io_executor executor_;
};

class GoodBackend final : public Backend, Counted {
 public:
  std::string name() const override { return "testgood"; }
  Availability available() const override { return Availability::yes(); }
  asio::awaitable<std::shared_ptr<TextModel>> load_model(std::string path, LoadOptions) override {
    auto executor = co_await asio::this_coro::executor;
    if (path == kMissingModel) throw Error(errc::model_not_found, path);
    if (path == kRefusedModel) throw Error(errc::child_start_failed, path, kRefusalOutput);
    co_return std::make_shared<GoodModel>(std::move(path), std::move(executor));
  }
};

void register_backends(PluginRegistrar& registrar) { registrar.add(std::make_shared<GoodBackend>()); }

}  // namespace

INFERENCE_PLUGIN(register_backends)

// Backends and models of this plugin currently alive.
extern "C" __attribute__((visibility("default"))) int inference_testgood_live_objects() { return live_objects; }
// Completed GoodModel::close() calls since the plugin was loaded.
extern "C" __attribute__((visibility("default"))) int inference_testgood_close_calls() { return close_calls; }
