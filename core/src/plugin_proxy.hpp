// Core-side proxies that keep a plugin's shared object mapped while anything made by its code
// is alive or may still run.
//
// The Registry never hands out a plugin's own objects: it hands out a PluginBackend, whose
// models are PluginModels, whose streams carry the PluginModel as their anchor. Each proxy owns
// a shared_ptr<PluginLibrary> declared before the plugin object, so the plugin object (whose
// destructor and vtable are plugin code) is destroyed first and the library released after.
//
// Two more rules keep the unmapping safe, both enforced here:
// - exceptions that leave plugin code are re-thrown as an Error made by core code: an exception
//   object created by the plugin refers to its code and may outlive the mapping;
// - after awaiting plugin code, a proxy resumes its caller from a handler posted by core code,
//   and the library is never released inline from a destructor, because Asio resumes awaiting
//   coroutines on the stack of whatever completed the operation, and that stack may hold
//   completion handlers the plugin instantiated.
//
// Thread-safety: as for Backend and TextModel; the proxies add no state beyond a flag.
#pragma once

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <memory>
#include <string>

#include "inference/backend.hpp"
#include "inference/context_lifetime.hpp"
#include "inference/text_model.hpp"
#include "plugin_library.hpp"

namespace inference {

class PluginBackend final : public Backend {
 public:
  PluginBackend(std::shared_ptr<const PluginLibrary> library, std::shared_ptr<Backend> inner);

  std::string name() const override { return name_; }
  int priority() const override { return priority_; }
  // A plugin whose check throws is reported unavailable, with the reason.
  Availability available() const override;
  Availability available_with(const LoadOptions& options) const override;
  Availability preflight(const std::string& path, const LoadOptions& options) const override;
  // Awaits the plugin's load_model and wraps the model in a PluginModel bound to the
  // executor of the awaiting coroutine.
  boost::asio::awaitable<std::shared_ptr<TextModel>> load_model(std::string path, LoadOptions options) override;

 private:
  std::shared_ptr<const PluginLibrary> library_;  // first: released after inner_
  std::shared_ptr<Backend> inner_;
  std::string name_;
  int priority_;  // asked once, like name_: a constant of the backend
};

class PluginModel final : public TextModel, public std::enable_shared_from_this<PluginModel> {
 public:
  PluginModel(std::shared_ptr<const PluginLibrary> library, std::shared_ptr<TextModel> inner,
              boost::asio::any_io_executor executor);
  PluginModel(const PluginModel&) = delete;
  PluginModel& operator=(const PluginModel&) = delete;
  // Starts close_and_release() on the load executor (closing the model unless close() was
  // called): the library is released later, from a core stack. When that executor's context
  // has been destroyed, nothing can run there: the model is destroyed here instead (its backend
  // stops its processes synchronously) and the library stays mapped until exit.
  ~PluginModel() override;

  // The stream carries this proxy as its anchor (see token_stream.hpp).
  TokenStream generate(std::string prompt, GenerateConfig config) override;
  TokenStream chat(std::vector<Message> messages, GenerateConfig config) override;
  boost::asio::awaitable<std::vector<ClassifyResult>> classify(std::vector<std::string> prompts,
                                                               GenerateConfig config) override;
  boost::asio::awaitable<std::vector<BatchResult>> batch_generate(std::vector<std::string> prompts,
                                                                  GenerateConfig config) override;
  TokenStream generate_tokens(std::vector<int32_t> prompt, GenerateConfig config) override;
  boost::asio::awaitable<std::vector<Token>> tokenize(std::string text, bool add_special) override;
  boost::asio::awaitable<std::string> detokenize(std::vector<int32_t> ids) override;
  boost::asio::awaitable<std::vector<Embedding>> embed(std::vector<std::string> inputs) override;
  boost::asio::awaitable<std::vector<RerankScore>> rerank(std::string query,
                                                          std::vector<std::string> documents) override;
  ModelInfo info() const override { return inner_->info(); }
  std::string model_type() const override { return inner_->model_type(); }
  ModelStats stats() const override { return inner_->stats(); }
  boost::asio::awaitable<void> reload(std::string path, LoadOptions options) override;
  boost::asio::awaitable<void> close() override;

 private:
  std::shared_ptr<const PluginLibrary> library_;  // first: released after inner_
  std::shared_ptr<TextModel> inner_;
  boost::asio::any_io_executor executor_;
  ContextLifetime context_;  // the load executor's context
  std::atomic<bool> close_requested_{false};
};

// What a PluginModel leaves behind. One struct, not two parameters, because the order in which
// a coroutine's parameter copies are destroyed differs between compilers (g++ 12 destroys the
// first one first) and the frame may be destroyed unstarted, e.g. when its io_context shuts
// down; members are always destroyed in reverse order, the model before the library.
struct ModelRemains {
  std::shared_ptr<const void> library;
  std::shared_ptr<TextModel> model;  // null when it was closed already
};

// Closes the model (when there is one) and then releases it and, last, the library, from a
// handler posted by core code. Started by ~PluginModel so that a model dropped without close()
// still shuts down its background work before the shared object that runs that work is unmapped.
boost::asio::awaitable<void> close_and_release(ModelRemains remains);

}  // namespace inference
