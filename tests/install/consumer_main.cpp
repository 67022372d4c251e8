// Streams from the installed stub plugin (inference::core) and writes and reads back a tiny GGUF
// model (inference::gguf), so both exported targets are compiled and linked against.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <inference/gguf/model_info_reader.hpp>
#include <inference/gguf/tiny_model.hpp>
#include <inference/inference.hpp>
#include <iostream>
int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const std::filesystem::path model_file = argv[1];
  inference::gguf::write_tiny_model(model_file, 1);
  std::cout << "gguf: " << inference::gguf::read_model_info(model_file).architecture << "\n";

  boost::asio::io_context io;
  inference::Registry registry;
  inference::PluginSearch search;
  search.directories.push_back(INFERENCE_PLUGIN_DIR_FOR_TEST);
  registry.load_plugins(search);
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        inference::LoadOptions options;
        auto model = co_await registry.load_model("stub", options, "stub");
        inference::GenerateConfig config;
        config.max_tokens = 4;
        auto stream = model->generate("hello", config);
        while (auto t = co_await stream.next()) std::cout << t->text;
        std::cout << " [" << inference::to_string(stream.result().finish_reason) << "]\n";
        co_await model->close();
      },
      boost::asio::detached);
  io.run();
}
