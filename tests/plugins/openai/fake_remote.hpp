// FakeRemote: a scripted OpenAI-compatible server for the openai backend's tests, on 127.0.0.1
// (an ephemeral port), over plain TCP or TLS with a given certificate. Each request it reads gets
// the next scripted answer (the last one repeats): exact response bytes, then the connection kept
// (keep-alive) or closed; silence until the client leaves; or an SSE line that never ends. It
// records every request (for the Authorization header) with the time it arrived, and counts
// connections and client disconnects.
//
// Ownership: owns the listener; sessions are coroutines on the given executor sharing the state.
// stop() closes the listener and every session's socket, so nothing of it is left on the
// io_context afterwards. Thread-safety: none; the tests run one io_context thread.
// Cancellation: wait_for_disconnects() is bounded by the caller (the test's overall budget).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace inference::openai::test {

struct FakeAnswer {
  enum class Kind {
    respond,       // write `bytes`, then keep the connection (or close it: close_after)
    hang,          // read the request, answer nothing, wait until the client closes
    endless_line,  // write `bytes` (a header), then "data: xxxx..." without a line end until the client leaves
  };
  FakeAnswer() = default;  // user-declared: g++ 12 and prvalue aggregates (docs/architecture.md)
  FakeAnswer(Kind k, std::string b, bool close) : kind(k), bytes(std::move(b)), close_after(close) {}

  Kind kind = Kind::respond;
  std::string bytes;
  bool close_after = false;
};

struct FakeRequest {
  std::string target;
  std::string authorization;
  std::string body;
  std::chrono::steady_clock::time_point arrived;
};

// Response builders.
// A 200 SSE answer whose body is the given events, chunked, ending with the terminating chunk.
std::string sse_answer(const std::string& events);
// The same without the terminating chunk: the stream is cut (use with close_after).
std::string cut_sse_answer(const std::string& events);
// "data: {...}\n\n" per text for /completions, then a finish_reason "length" event with usage,
// then "data: [DONE]\n\n".
std::string completion_events(const std::vector<std::string>& texts);
// An error answer with a JSON body {"error":{"message","type","code"}} and extra header lines.
std::string error_answer(unsigned status, const std::string& type, const std::string& message,
                         const std::string& extra_headers = {});

struct TlsFiles {
  // User-declared: g++ 12 miscompiles prvalue aggregates that own memory in coroutines.
  TlsFiles() = default;
  TlsFiles(std::filesystem::path cert, std::filesystem::path key)
      : certificate(std::move(cert)), private_key(std::move(key)) {}

  std::filesystem::path certificate;  // PEM
  std::filesystem::path private_key;  // PEM
};

class FakeRemote {
 public:
  // Plain TCP.
  FakeRemote(boost::asio::any_io_executor executor, std::vector<FakeAnswer> answers);
  // TLS with the given certificate and key.
  FakeRemote(boost::asio::any_io_executor executor, std::vector<FakeAnswer> answers, const TlsFiles& tls);
  ~FakeRemote();
  FakeRemote(const FakeRemote&) = delete;
  FakeRemote& operator=(const FakeRemote&) = delete;

  std::uint16_t port() const;
  std::vector<FakeRequest> requests() const;
  std::size_t connections() const;
  std::size_t disconnects() const;

  // Completes once at least `count` sessions have ended because the client closed its side.
  boost::asio::awaitable<void> wait_for_disconnects(std::size_t count);

  void stop();

  struct State;

 private:
  void listen();

  std::shared_ptr<State> state_;
};

// Writes a self-signed certificate for `name` (subjectAltName DNS:name) and its key into
// `directory` with the openssl command-line tool. Throws std::runtime_error when openssl fails.
TlsFiles make_self_signed_certificate(const std::filesystem::path& directory, const std::string& name);

}  // namespace inference::openai::test
