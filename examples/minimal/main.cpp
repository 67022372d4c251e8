// The smallest host application: load the installed backend plugins, load a model on the best
// available backend, stream one generation to stdout, close the model.
//
//   minimal MODEL.gguf [PROMPT]
#include <inference/inference.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <exception>
#include <iostream>
#include <string>

namespace asio = boost::asio;

asio::awaitable<void> run(inference::Registry& registry, std::string model_path, std::string prompt) {
  inference::LoadOptions options;  // 4 slots, the model's context, all layers on the GPU if any
  auto model = co_await registry.load_model(model_path, options);  // best available backend

  inference::GenerateConfig config;
  config.max_tokens = 32;
  config.temperature = 0.0f;                      // greedy: the same text on every run
  auto stream = model->generate(prompt, config);  // the request starts now
  while (auto token = co_await stream.next()) std::cout << token->text << std::flush;

  const inference::GenerateResult result = stream.result();
  std::cout << "\n[" << inference::to_string(result.finish_reason) << ", " << result.metrics.generated_tokens
            << " tokens]\n";
  co_await model->close();  // stops the llama-server child before returning
}

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: minimal MODEL.gguf [PROMPT]\n";
    return 2;
  }
  // Plugins: the package's plugin directory first, then INFERENCE_PLUGIN_PATH and the places
  // next to this executable. A plugin that fails to load is reported, the others still work.
  inference::Registry registry;
  inference::PluginSearch search;
  search.directories.push_back(INFERENCE_PLUGIN_DIR);
  for (const auto& failure : registry.load_plugins(search)) std::cerr << "plugin skipped: " << failure.message << "\n";

  asio::io_context io;
  auto done = asio::co_spawn(io, run(registry, argv[1], argc > 2 ? argv[2] : "Once upon a time"), asio::use_future);
  io.run();  // until run() has finished
  try {
    done.get();                        // rethrows what run() threw
  } catch (const std::exception& e) {  // inference::Error names the cause
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
