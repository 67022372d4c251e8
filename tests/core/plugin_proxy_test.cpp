// A loaded plugin stays mapped while anything that came from it is alive (registry, backend,
// model, stream) and is unmapped once the last is gone; a model dropped without close() is
// closed first.
#include "plugin_proxy.hpp"

#include <gtest/gtest.h>

#include <optional>

#include "inference/registry.hpp"
#include "plugin_test_support.hpp"

namespace inference {
namespace {

namespace asio = boost::asio;
using test::good_plugin;
using test::is_loaded;
using test::plugin_counter;

constexpr const char* kLiveObjects = "inference_testgood_live_objects";
constexpr const char* kCloseCalls = "inference_testgood_close_calls";

asio::awaitable<std::string> read_all(TokenStream& stream) {
  std::string text;
  for (;;) {
    const std::optional<Token> token = co_await stream.next();
    if (!token) co_return text;
    text += token->text;
  }
}

asio::awaitable<std::optional<Token>> read_one(TokenStream& stream) { co_return co_await stream.next(); }

asio::awaitable<void> close(std::shared_ptr<TextModel> model) { co_await model->close(); }

std::shared_ptr<TextModel> load_good_model(asio::io_context& io, Registry& registry) {
  return test::run(io, registry.load_model("model.gguf", {}, "testgood"));
}

TEST(PluginProxy, GoodPluginLoadsRegistersAndStreams) {
  asio::io_context io;
  Registry registry;
  registry.load_plugin(good_plugin());

  const auto entries = registry.list();
  ASSERT_EQ(entries.size(), 1U);
  EXPECT_EQ(entries[0].name, "testgood");
  EXPECT_EQ(entries[0].plugin_file, good_plugin().string());
  EXPECT_TRUE(entries[0].availability.available);

  const auto model = load_good_model(io, registry);
  EXPECT_EQ(model->info().path, "model.gguf");
  EXPECT_EQ(model->model_type(), "testgood");
  auto stream = model->generate("hello", {});
  EXPECT_EQ(test::run(io, read_all(stream)), "abc");
  EXPECT_EQ(stream.result().finish_reason, FinishReason::length);
  test::run(io, close(model));
  EXPECT_EQ(plugin_counter(good_plugin(), kCloseCalls), 1);
}

TEST(PluginProxy, UnloadsOnlyAfterRegistryBackendModelAndStreamAreGone) {
  asio::io_context io;
  auto registry = std::make_unique<Registry>();
  registry->load_plugin(good_plugin());
  auto backend = registry->get("testgood");
  auto model = load_good_model(io, *registry);
  auto stream = model->generate("hello", {});
  EXPECT_EQ(plugin_counter(good_plugin(), kLiveObjects), 2);  // backend and model

  registry.reset();
  EXPECT_TRUE(is_loaded(good_plugin()));
  backend.reset();
  EXPECT_TRUE(is_loaded(good_plugin()));
  EXPECT_EQ(plugin_counter(good_plugin(), kLiveObjects), 1);
  model.reset();
  test::drain(io);
  EXPECT_TRUE(is_loaded(good_plugin()));

  // Dropping the model did not close it under the stream.
  EXPECT_EQ(test::run(io, read_all(stream)), "abc");
  EXPECT_TRUE(is_loaded(good_plugin()));

  stream = TokenStream();
  test::drain(io);
  EXPECT_FALSE(is_loaded(good_plugin()));
}

TEST(PluginProxy, ModelDroppedWithoutCloseIsClosedThenDestroyed) {
  // An extra handle keeps the plugin mapped so its counters can still be read at the end.
  void* observer = dlopen(good_plugin().c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(observer, nullptr);
  {
    asio::io_context io;
    Registry registry;
    registry.load_plugin(good_plugin());
    auto model = load_good_model(io, registry);
    const int closes_before = plugin_counter(good_plugin(), kCloseCalls);
    model.reset();
    test::drain(io);
    EXPECT_EQ(plugin_counter(good_plugin(), kCloseCalls), closes_before + 1);
    EXPECT_EQ(plugin_counter(good_plugin(), kLiveObjects), 1);  // the backend, still registered
  }
  EXPECT_EQ(plugin_counter(good_plugin(), kLiveObjects), 0);
  dlclose(observer);
  EXPECT_FALSE(is_loaded(good_plugin()));
}

TEST(PluginProxy, ModelDroppedWithoutCloseKeepsTheLibraryUntilCloseHasFinished) {
  // The model's close() suspends once; if the library were released before it resumed, the
  // resumption would jump into unmapped code.
  asio::io_context io;
  auto model = [&] {
    Registry registry;
    registry.load_plugin(good_plugin());
    return load_good_model(io, registry);
  }();
  model.reset();
  EXPECT_TRUE(is_loaded(good_plugin()));  // the close is queued, not run
  test::drain(io);
  EXPECT_FALSE(is_loaded(good_plugin()));
}

// A backend that does not implement reload() says so with a typed error through the proxy; the
// model keeps serving.
TEST(PluginProxy, ReloadOfABackendWithoutItFailsWithUnsupportedAndTheModelStillServes) {
  asio::io_context io;
  Registry registry;
  registry.load_plugin(good_plugin());
  auto model = load_good_model(io, registry);
  std::optional<Error> failure;
  test::run(io, [&]() -> asio::awaitable<void> {
    try {
      co_await model->reload("model.gguf", LoadOptions());
    } catch (const Error& e) {
      failure = e;
    }
  }());
  ASSERT_TRUE(failure.has_value()) << "reload() succeeded on a backend that has none";
  EXPECT_TRUE(failure->is(errc::unsupported)) << failure->what();
  EXPECT_NE(std::string(failure->what()).find("reload()"), std::string::npos) << failure->what();
  auto stream = model->generate("still there", GenerateConfig());
  const auto token = test::run(io, stream.next());
  EXPECT_TRUE(token.has_value()) << "the model stopped serving after a refused reload()";
  test::run(io, close(model));
}

TEST(PluginProxy, ClosedModelIsNotClosedAgainWhenDropped) {
  void* observer = dlopen(good_plugin().c_str(), RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(observer, nullptr);
  {
    asio::io_context io;
    Registry registry;
    registry.load_plugin(good_plugin());
    auto model = load_good_model(io, registry);
    const int closes_before = plugin_counter(good_plugin(), kCloseCalls);
    test::run(io, close(model));
    model.reset();
    test::drain(io);
    EXPECT_EQ(plugin_counter(good_plugin(), kCloseCalls), closes_before + 1);
  }
  dlclose(observer);
  EXPECT_FALSE(is_loaded(good_plugin()));
}

TEST(PluginProxy, StreamDroppedMidwayLetsThePluginUnload) {
  asio::io_context io;
  auto model = [&] {
    Registry registry;
    registry.load_plugin(good_plugin());
    return load_good_model(io, registry);
  }();
  auto stream = model->generate("hello", {});
  model.reset();
  const auto first = test::run(io, read_one(stream));
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->text, "a");
  EXPECT_TRUE(is_loaded(good_plugin()));
  stream = TokenStream();  // cancels the producer
  test::drain(io);
  EXPECT_FALSE(is_loaded(good_plugin()));
}

// The error loading `path` from the good plugin fails with, once the plugin is unmapped: the
// caller reads it after the unmapping, which is safe only when core code made it.
std::optional<Error> load_error_after_unload(const std::string& path) {
  asio::io_context io;
  auto registry = std::make_unique<Registry>();
  registry->load_plugin(good_plugin());
  std::optional<Error> failure;
  try {
    test::run(io, registry->load_model(path, {}, "testgood"));
  } catch (const Error& e) {
    failure = e;
  }
  registry.reset();
  test::drain(io);
  EXPECT_FALSE(is_loaded(good_plugin()));
  return failure;
}

TEST(PluginProxy, PluginLoadErrorKeepsItsCodeAndOutlivesThePlugin) {
  const auto error = load_error_after_unload("missing.gguf");
  ASSERT_TRUE(error.has_value()) << "load_model succeeded";
  EXPECT_TRUE(error->is(errc::model_not_found));
  EXPECT_EQ(error->context(), "missing.gguf");
}

TEST(PluginProxy, PluginErrorKeepsItsDetailAcrossTheBoundary) {
  const auto error = load_error_after_unload("refused.gguf");
  ASSERT_TRUE(error.has_value()) << "load_model succeeded";
  EXPECT_TRUE(error->is(errc::child_start_failed));
  EXPECT_EQ(error->detail(), "loading the model\nerror: out of memory");
  EXPECT_STREQ(error->what(), "refused.gguf: child process failed to start");
}

asio::awaitable<std::vector<BatchResult>> batch(std::shared_ptr<TextModel> model, GenerateConfig config) {
  std::vector<std::string> prompts{"one", "two"};  // named: g++ 12 rejects a braced list here
  co_return co_await model->batch_generate(std::move(prompts), std::move(config));
}

asio::awaitable<std::optional<Error>> first_error(TokenStream& stream) {
  try {
    const std::optional<Token> token = co_await stream.next();
    (void)token;
  } catch (const Error& e) {
    co_return e;
  }
  co_return std::nullopt;
}

TEST(PluginProxy, OutOfRangeConfigIsRefusedBeforeThePluginSeesIt) {
  // The test plugin checks nothing: unchecked, it would stream "abc".
  asio::io_context io;
  Registry registry;
  registry.load_plugin(good_plugin());
  const auto model = load_good_model(io, registry);
  GenerateConfig config;
  config.top_p = 2.0F;
  auto generated = model->generate("hello", config);
  const auto generate_error = test::run(io, first_error(generated));
  EXPECT_TRUE(generate_error && generate_error->is(errc::invalid_argument)) << "generate() was not refused";
  auto chatted = model->chat({Message{"user", "hi"}}, config);
  const auto chat_error = test::run(io, first_error(chatted));
  EXPECT_TRUE(chat_error && chat_error->is(errc::invalid_argument)) << "chat() was not refused";
  try {
    test::run(io, batch(model, config));
    ADD_FAILURE() << "batch_generate() was not refused";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument)) << e.what();
    EXPECT_NE(std::string(e.what()).find("top_p"), std::string::npos) << e.what();
  }
  test::run(io, close(model));
}

TEST(PluginProxy, BatchGenerateRunsThroughThePlugin) {
  asio::io_context io;
  Registry registry;
  registry.load_plugin(good_plugin());
  const auto model = load_good_model(io, registry);
  const auto results = test::run(io, batch(model, GenerateConfig()));
  ASSERT_EQ(results.size(), 2U);
  EXPECT_EQ(results[0].text, "abc");
  EXPECT_EQ(results[1].text, "abc");
}

TEST(PluginProxy, TokenizeDetokenizeAndEmbedRunThroughThePlugin) {
  asio::io_context io;
  Registry registry;
  registry.load_plugin(good_plugin());
  const auto model = load_good_model(io, registry);
  const std::vector<Token> tokens = test::run(io, model->tokenize("hi", false));
  ASSERT_EQ(tokens.size(), 2U);
  EXPECT_EQ(tokens[0].id, 'h');
  EXPECT_EQ(tokens[1].text, "i");
  EXPECT_EQ(test::run(io, model->detokenize({'o', 'k'})), "ok");
  const std::vector<Embedding> vectors = test::run(io, model->embed({"abc", "de"}));
  ASSERT_EQ(vectors.size(), 2U);
  EXPECT_EQ(vectors[0].values, std::vector<float>{3.0F});
  EXPECT_EQ(vectors[1].prompt_tokens, 2U);
  try {
    test::run(io, model->rerank("q", {"d"}));
    ADD_FAILURE() << "rerank() on a plugin without it succeeded";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::unsupported)) << e.what();
  }
  test::run(io, close(model));
}

TEST(PluginProxy, ToolsOutsideChatAreRefusedBeforeThePluginSeesThem) {
  asio::io_context io;
  Registry registry;
  registry.load_plugin(good_plugin());
  const auto model = load_good_model(io, registry);
  GenerateConfig config;
  config.tools = {ToolDefinition{"lookup", "", ""}};
  auto generated = model->generate("hello", config);
  const auto generate_error = test::run(io, first_error(generated));
  ASSERT_TRUE(generate_error && generate_error->is(errc::invalid_argument)) << "generate() with tools was not refused";
  EXPECT_NE(std::string(generate_error->what()).find("chat() only"), std::string::npos) << generate_error->what();
  auto by_ids = model->generate_tokens({1, 2}, config);
  const auto ids_error = test::run(io, first_error(by_ids));
  EXPECT_TRUE(ids_error && ids_error->is(errc::invalid_argument)) << "generate_tokens() with tools was not refused";
  test::run(io, close(model));
}

TEST(PluginProxy, LoadModelErrorsComeBackAsCoreErrors) {
  // libbackend_testduplicate.so's backend returns no model.
  asio::io_context io;
  Registry registry;
  registry.load_plugin(test::test_plugin("duplicate", "testduplicate"));
  try {
    test::run(io, registry.load_model("model.gguf", {}, "testgood"));
    ADD_FAILURE() << "load_model succeeded";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::internal_error));
    EXPECT_NE(std::string(e.what()).find("returned no model"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace inference
