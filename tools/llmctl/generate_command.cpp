// llmctl generate / llmctl chat: load a model, run one request and stream its tokens to stdout
// as they arrive (text, or one JSON line per token followed by a result line).
#include <CLI/CLI.hpp>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "command_context.hpp"
#include "commands.hpp"
#include "constraint_flags.hpp"
#include "inference/error.hpp"
#include "inference/generate_config.hpp"
#include "inference/registry.hpp"
#include "inference/text_model.hpp"
#include "json_output.hpp"
#include "model_flags.hpp"
#include "positional_text.hpp"
#include "serving_text.hpp"

namespace llmctl {

namespace {

namespace asio = boost::asio;

struct GenerateOptions {
  PluginFlags plugins;
  ModelFlags model;
  inference::GenerateConfig config;
  bool chat = false;
  std::string system;               // chat only
  std::vector<std::string> prompt;  // words, joined with spaces
  bool json = false;
};

inference::TokenStream start_request(inference::TextModel& model, const GenerateOptions& options) {
  if (!options.chat) return model.generate(positional_text(options.prompt), options.config);
  std::vector<inference::Message> messages;
  if (!options.system.empty()) messages.push_back({"system", options.system});
  messages.push_back({"user", positional_text(options.prompt)});
  return model.chat(std::move(messages), options.config);
}

void print_result_line(const inference::GenerateResult& result, const inference::ModelInfo& info) {
  boost::json::object line;
  line["result"] = result_json(result);
  line["serving"] = serving_json(info);
  print_json_line(line);
}

asio::awaitable<void> stream_generation(inference::Registry& registry, const GenerateOptions& options) {
  auto model = co_await registry.load_model(options.model.model, options.model.load_options(), options.model.backend);
  const inference::ModelInfo info = model->info();
  // On stderr: stdout is the generated text alone.
  if (!options.json && !info.serving_context_reason.empty())
    std::fprintf(stderr, "llmctl: %s\n", serving_line(info).c_str());
  auto stream = start_request(*model, options);
  try {
    while (auto token = co_await stream.next()) {
      if (options.json) {
        print_json_line(token_json(*token));
      } else {
        std::fwrite(token->text.data(), 1, token->text.size(), stdout);
        std::fflush(stdout);
      }
    }
  } catch (const inference::Error& e) {
    // A failed generation still reports how far it got; our own cancellation (Ctrl-C) does not.
    if (!options.json) std::fputs("\n", stdout);
    if (options.json && !e.is(inference::errc::cancelled)) print_result_line(stream.result(), info);
    throw;
  }
  if (options.json) {
    print_result_line(stream.result(), info);
  } else {
    std::fputs("\n", stdout);
    std::fflush(stdout);
  }
  co_await model->close();
}

int run_generate(const GenerateOptions& options) {
  CommandContext context(options.plugins);
  context.warn_plugin_failures();
  return context.run([&] { return stream_generation(context.registry(), options); });
}

void add_request_command(CLI::App& app, CommandAction& action, bool chat) {
  auto options = std::make_shared<GenerateOptions>();
  options->chat = chat;
  auto* command = chat ? app.add_subcommand("chat", "Send one chat message and stream the reply")
                       : app.add_subcommand("generate", "Complete a prompt and stream the tokens");
  add_plugin_flags(*command, options->plugins);
  add_model_flags(*command, options->model);
  auto& config = options->config;
  command
      ->add_option_function<int32_t>(
          "--max-tokens", [&config](const int32_t& n) { config.max_tokens = n; },
          "Most tokens to generate (default 256)")
      ->check(CLI::NonNegativeNumber);
  command
      ->add_option_function<float>(
          "--temperature", [&config](const float& t) { config.temperature = t; },
          "Sampling temperature, 0 = greedy (default: the backend's)")
      ->check(CLI::NonNegativeNumber);
  command->add_option_function<uint64_t>(
      "--seed", [&config](const uint64_t& s) { config.seed = s; }, "Sampling seed (default: the backend's)");
  add_constraint_flags(*command, config);
  if (chat) command->add_option("--system", options->system, "System message sent before the user message");
  command->add_flag("--json", options->json,
                    "One JSON line per token ({\"id\",\"text\"}), then {\"result\":{...metrics...},\"serving\":{...}}");
  command->add_option("message", options->prompt, chat ? "The user message" : "The prompt")
      ->required()
      ->type_name("TEXT");
  command->callback([options, &action] { action = [options] { return run_generate(*options); }; });
}

}  // namespace

void add_generate_command(CLI::App& app, CommandAction& action) {
  add_request_command(app, action, false);
  add_request_command(app, action, true);
}

}  // namespace llmctl
