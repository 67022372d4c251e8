#include "inference/llama_server/server_launch.hpp"

#include <string>
#include <utility>

#include "inference/error.hpp"

namespace inference::llama_server {

boost::asio::awaitable<std::unique_ptr<ServerProcess>> start_ready_server(boost::asio::any_io_executor executor,
                                                                          LaunchSpec spec, ServerProcessOptions options,
                                                                          std::chrono::milliseconds load_timeout) {
  for (int attempt = 1;; ++attempt) {
    auto process = std::make_unique<ServerProcess>(executor, spec, options);
    try {
      co_await wait_until_ready(executor, process->endpoint(), *process, load_timeout);
      co_return process;
    } catch (const Error& error) {
      const bool port_clash =
          error.is(errc::child_start_failed) && !process->endpoint().is_unix_socket() && process->failed_to_bind();
      if (!port_clash) throw;
      if (spec.port != 0) {
        // The user chose this port: picking another would hide the conflict from them.
        throw Error(errc::child_start_failed,
                    "port " + std::to_string(spec.port) + " on " + std::string(ServerEndpoint::kLoopbackAddress) +
                        " is already in use: " + error.context(),
                    error.detail());
      }
      if (attempt == kMaxBindAttempts) {
        throw Error(
            errc::child_start_failed,
            error.context() + " (the TCP port was taken " + std::to_string(kMaxBindAttempts) + " times in a row)",
            error.detail());
      }
    }
    // `process` (exited already) is reaped by its destructor before the next attempt.
  }
}

}  // namespace inference::llama_server
