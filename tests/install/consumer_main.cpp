#include <inference/inference.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <iostream>
int main() {
  boost::asio::io_context io;
  inference::Registry registry;
  inference::PluginSearch search;
  search.directories.push_back(INFERENCE_PLUGIN_DIR_FOR_TEST);
  registry.load_plugins(search);
  boost::asio::co_spawn(io, [&]() -> boost::asio::awaitable<void> {
    inference::LoadOptions options;
    auto model = co_await registry.load_model("stub", options, "stub");
    inference::GenerateConfig config;
    config.max_tokens = 4;
    auto stream = model->generate("hello", config);
    while (auto t = co_await stream.next()) std::cout << t->text;
    std::cout << " [" << inference::to_string(stream.result().finish_reason) << "]\n";
    co_await model->close();
  }, boost::asio::detached);
  io.run();
}
