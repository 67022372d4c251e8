// Waiting for a freshly spawned llama-server to finish loading its model: poll GET /health until
// it answers 200 {"status":"ok"}, while also watching the process so that an early exit (bad
// flag, missing model, port taken) fails at once instead of at the timeout.
//
// Ownership: borrows the endpoint and the process for the duration of the await; both must
// outlive it. Thread-safety: one wait per process at a time is the intended use; the process'
// awaitables themselves are safe to share. Cancellation: supports per-operation cancellation
// (the polling connection is closed, the process is left alone) and then throws
// Error(errc::cancelled). Neither a timeout nor an exit kills the process: the caller owns it
// (destroy it or terminate() it).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>

#include "inference/llama_server/engine_option_keys.hpp"
#include "inference/llama_server/server_endpoint.hpp"
#include "inference/llama_server/server_process.hpp"

namespace inference::llama_server {

// There is no readiness event to wait for, only /health to ask: polling every 10 ms notices
// readiness within 20 ms (interval plus a sub-millisecond local request) at a negligible cost.
inline constexpr std::chrono::milliseconds kHealthPollInterval{10};
// One /health request must not stall the loop on a server that accepted but does not answer;
// it normally takes well under a millisecond, even while the model loads.
inline constexpr std::chrono::milliseconds kHealthRequestTimeout{2'000};

// Completes once GET /health answers 200 with {"status":"ok"}. 503 ("Loading model"), refused
// or reset connections and a missing socket file mean "not yet". Throws:
//   Error(child_start_failed) when the process exits first: the context says how it ended
//     (exit status or signal), where it was to listen, and the server's first error line (its
//     root cause, e.g. "llama_model_load: error loading model: ..."); the detail holds its last
//     output lines;
//   Error(load_timeout) when `timeout` passes first, with the last /health outcome (context)
//     and the last output lines (detail).
boost::asio::awaitable<void> wait_until_ready(boost::asio::any_io_executor executor,
                                              const ServerEndpoint& endpoint,
                                              ServerProcess& process,
                                              std::chrono::milliseconds timeout =
                                                  engine_option::kDefaultLoadTimeout);

}  // namespace inference::llama_server
