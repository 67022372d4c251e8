// llmctl embed: load a model for embeddings (backend option embeddings=true unless an --opt says
// otherwise) and print one vector per TEXT argument, in order: the dimension, then each input's
// token count and values (or one JSON object with all of them).
#include <fmt/core.h>
#include <CLI/CLI.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <memory>
#include <string>
#include <vector>

#include "command_context.hpp"
#include "commands.hpp"
#include "inference/registry.hpp"
#include "inference/text_model.hpp"
#include "json_output.hpp"
#include "model_flags.hpp"

namespace llmctl {

namespace {

namespace asio = boost::asio;

// The llama-server engine's keys (engine_option_keys.hpp; tools/ sees only the public API).
constexpr std::string_view kEmbeddingsKey = "embeddings";
constexpr std::string_view kPoolingKey = "pooling";

struct EmbedOptions {
  PluginFlags plugins;
  ModelFlags model;
  std::string pooling;  // --pooling; empty: the model's own
  std::vector<std::string> texts;
  bool json = false;
};

inference::LoadOptions embedding_load_options(const EmbedOptions& options) {
  inference::LoadOptions load = options.model.load_options();
  // The stub embeds whatever it loaded; the llama-server engine must be told.
  if (options.model.backend != "stub") load.backend_options.try_emplace(std::string(kEmbeddingsKey), "true");
  if (!options.pooling.empty()) load.backend_options[std::string(kPoolingKey)] = options.pooling;
  return load;
}

void print_embeddings(const EmbedOptions& options, uint64_t dimension,
                      const std::vector<inference::Embedding>& embeddings) {
  if (options.json) {
    boost::json::array data;
    for (std::size_t i = 0; i < embeddings.size(); ++i) {
      boost::json::array values;
      for (const float value : embeddings[i].values) values.emplace_back(static_cast<double>(value));
      data.emplace_back(boost::json::object{
          {"index", i}, {"prompt_tokens", embeddings[i].prompt_tokens}, {"embedding", std::move(values)}});
    }
    print_json_line(boost::json::object{{"dimension", dimension}, {"data", std::move(data)}});
    return;
  }
  fmt::print("dimension {}\n", dimension);
  for (std::size_t i = 0; i < embeddings.size(); ++i) {
    fmt::print("{} ({} tokens):", i, embeddings[i].prompt_tokens);
    for (const float value : embeddings[i].values) fmt::print(" {:.6f}", value);
    fmt::print("\n");
  }
}

asio::awaitable<void> embed_texts(inference::Registry& registry, const EmbedOptions& options) {
  auto model =
      co_await registry.load_model(options.model.model, embedding_load_options(options), options.model.backend);
  const auto embeddings = co_await model->embed(options.texts);
  print_embeddings(options, model->info().embedding_length, embeddings);
  co_await model->close();
}

int run_embed(const EmbedOptions& options) {
  CommandContext context(options.plugins);
  context.warn_plugin_failures();
  return context.run([&] { return embed_texts(context.registry(), options); });
}

}  // namespace

void add_embed_command(CLI::App& app, CommandAction& action) {
  auto options = std::make_shared<EmbedOptions>();
  auto* command = app.add_subcommand("embed", "Print the embedding vector of each TEXT (docs/structured-output.md)");
  add_plugin_flags(*command, options->plugins);
  add_model_flags(*command, options->model, false);
  command->add_option("--pooling", options->pooling,
                      "How token vectors are pooled: mean, cls, last (backend option pooling; default: the model's)");
  command->add_flag("--json", options->json, "One JSON object: {\"dimension\",\"data\":[{\"index\",...}]}");
  command->add_option("model", options->model.model, "The model file")->required()->type_name("MODEL");
  command->add_option("text", options->texts, "The texts, one vector each")->required()->type_name("TEXT");
  command->callback([options, &action] { action = [options] { return run_embed(*options); }; });
}

}  // namespace llmctl
