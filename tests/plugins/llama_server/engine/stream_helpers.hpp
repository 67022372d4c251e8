// Consuming TokenStreams in tests: all tokens, or the error a stream ended with.
// Thread-safety: one consumer per stream, as TokenStream requires.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <optional>
#include <vector>

#include "inference/error.hpp"
#include "inference/token_stream.hpp"

namespace inference::llama_cpp::test {

// Every token until the end; throws the stream's error.
inline boost::asio::awaitable<std::vector<Token>> drain(TokenStream& stream) {
  std::vector<Token> tokens;
  for (;;) {
    std::optional<Token> token = co_await stream.next();
    if (!token) break;
    tokens.push_back(std::move(*token));
  }
  co_return tokens;
}

// The error the stream ends with, or std::nullopt when it ends normally.
inline boost::asio::awaitable<std::optional<Error>> drain_error(TokenStream& stream) {
  try {
    std::vector<Token> tokens = co_await drain(stream);
    (void)tokens;
  } catch (const Error& e) {
    co_return e;
  }
  co_return std::nullopt;
}

}  // namespace inference::llama_cpp::test
