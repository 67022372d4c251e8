// Waiting for a freshly spawned llama-server to finish loading its model: ask GET /health when
// the server prints that it loaded the model or listens (ServerProcess::async_wait_readiness_line)
// until it answers 200 {"status":"ok"}, while also watching the process so that an early exit
// (bad flag, missing model, port taken) fails at once instead of at the timeout.
//
// Ownership: borrows the endpoint and the process for the duration of the await; both must
// outlive it. Thread-safety: one wait per process at a time is the intended use; the process'
// awaitables themselves are safe to share. Cancellation: supports per-operation cancellation
// (the /health connection is closed, the process is left alone) and then throws
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

// A fallback, not the way readiness is noticed: /health is asked again this long after the last
// answer when no readiness line came, for a server build that prints none of
// kReadinessMarkers (or words them differently). Such a build is then noticed up to this late.
inline constexpr std::chrono::milliseconds kReadinessRecheckInterval{250};
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
boost::asio::awaitable<void> wait_until_ready(boost::asio::any_io_executor executor, const ServerEndpoint& endpoint,
                                              ServerProcess& process,
                                              std::chrono::milliseconds timeout = engine_option::kDefaultLoadTimeout);

}  // namespace inference::llama_server
