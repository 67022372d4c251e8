// TestServer: a real llama-server for integration tests, started on a UNIX socket (or a
// loopback port) in a fresh 0700 temporary directory with a random API key, and killed in the
// destructor. The binary comes from LLAMA_SERVER_PATH or INFERENCE_TEST_LLAMA_SERVER, the
// model from INFERENCE_MODELS_DIR or INFERENCE_TEST_DEFAULT_MODELS_DIR (llama-2-tiny-random.gguf);
// when neither is set, from the build's INFERENCE_LLAMA_SERVER and INFERENCE_MODELS_DIR.
//
// Ownership: owns the child process and the temporary directory.
// Thread-safety: none; one test thread.
// Cancellation: wait_ready() is an awaitable bounded by kReadyTimeout and honours Asio
// cancellation like any awaitable.
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "inference/llama_server/server_endpoint.hpp"

namespace inference::llama_server::test {

struct TestServerOptions {
  int parallel_slots = 2;
  int context_size = 8192;  // total over all slots
  bool use_tcp = false;     // listen on 127.0.0.1:<free port> instead of a UNIX socket
  // When not empty: the server's flags instead of the ones above (-m, -np, -c, -t, ...), e.g. the
  // engine's own command line to compare with; the listen flags are appended as always.
  std::vector<std::string> flags;
};

class TestServer {
 public:
  // The tiny model loads in ~0.2 s; this is generous for a loaded CI machine.
  static constexpr std::chrono::seconds kReadyTimeout{30};
  static constexpr std::chrono::milliseconds kReadyPollInterval{20};
  // SIGTERM first so the server can clean up; SIGKILL after this long.
  static constexpr std::chrono::seconds kStopGracePeriod{5};

  // Why the integration tests cannot run here (binary or model missing), or std::nullopt.
  static std::optional<std::string> skip_reason();

  explicit TestServer(TestServerOptions options = {});
  ~TestServer();
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  const ServerEndpoint& endpoint() const { return endpoint_; }
  pid_t pid() const { return pid_; }

  // Polls GET /health until it answers 200. Throws std::runtime_error with the server's last
  // output when the child exits or kReadyTimeout passes.
  boost::asio::awaitable<void> wait_ready();

  // The child's stdout and stderr so far (for failure messages).
  std::string output() const;

 private:
  std::filesystem::path directory_;
  ServerEndpoint endpoint_;
  pid_t pid_ = -1;
};

}  // namespace inference::llama_server::test
