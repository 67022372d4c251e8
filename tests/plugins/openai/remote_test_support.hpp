// Test support for the openai backend: the plugin loaded through a Registry as a host does, a
// bounded runner for one test coroutine (the scripted servers keep the io_context busy, so it is
// stopped when the coroutine ends), and a stream read to its end.
#pragma once

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <exception>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "inference/error.hpp"
#include "inference/registry.hpp"
#include "inference/token_stream.hpp"

namespace inference::openai::test {

// Far beyond what any of these tests takes; only a hang reaches it.
inline constexpr std::chrono::seconds kTestBudget{60};

template <class F>
void run_test(F make, std::chrono::seconds budget = kTestBudget) {
  boost::asio::io_context io;
  bool done = false;
  std::exception_ptr failure;
  boost::asio::co_spawn(io, std::move(make), [&](std::exception_ptr e) {
    failure = e;
    done = true;
    io.stop();
  });
  io.run_for(budget);
  if (!done) {
    ADD_FAILURE() << "the test coroutine did not finish within " << budget.count() << " s";
    return;
  }
  if (failure) std::rethrow_exception(failure);
}

struct Outcome {
  std::string text;
  std::size_t tokens = 0;
  std::vector<std::int32_t> ids;
  std::optional<errc> error;
  std::string message;
  GenerateResult result;
};

inline boost::asio::awaitable<Outcome> read_all(TokenStream stream) {
  Outcome out;
  try {
    for (;;) {
      std::optional<Token> token = co_await stream.next();
      if (!token) break;
      out.text += token->text;
      out.ids.push_back(token->id);
      ++out.tokens;
    }
  } catch (const Error& e) {
    out.error = static_cast<errc>(e.code().value());
    out.message = e.what();
  }
  out.result = stream.result();
  co_return out;
}

class OpenAiPluginTest : public ::testing::Test {
 protected:
  void SetUp() override { registry_.load_plugin(OPENAI_TEST_PLUGIN_FILE); }

  boost::asio::awaitable<std::shared_ptr<TextModel>> load(std::map<std::string, std::string> options,
                                                          std::string model = "remote-model") {
    LoadOptions load_options;
    load_options.backend_options = std::move(options);
    co_return co_await registry_.load_model(std::move(model), std::move(load_options), "openai");
  }

  Registry registry_;
};

}  // namespace inference::openai::test
