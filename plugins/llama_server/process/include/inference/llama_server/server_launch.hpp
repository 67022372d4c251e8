// Starting a llama-server until it serves: spawn a ServerProcess, wait until it is ready, and
// on a TCP port clash (the port we picked was taken before the child bound it) start again with
// a new port. A fixed port (LaunchSpec::port) is never replaced: its clash is the error. A UNIX
// socket lives in a fresh private directory, so a bind failure there is not a race and is not
// retried. The one entry point the engine needs for "load".
//
// Ownership: the returned ServerProcess owns the ready child. Thread-safety: as ServerProcess.
// Cancellation: per-operation cancellation is forwarded to the readiness wait; the child being
// started is then destroyed (killed and reaped) and Error(errc::cancelled) is thrown.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>

#include "inference/llama_server/launch_spec.hpp"
#include "inference/llama_server/readiness_probe.hpp"
#include "inference/llama_server/server_process.hpp"

namespace inference::llama_server {

// Launches per load when the picked TCP port keeps being taken. A clash needs another process
// to grab the port in the microseconds between our close and the child's bind; three in a row
// means something is wrong beyond bad luck.
inline constexpr int kMaxBindAttempts = 3;

// Throws what ServerProcess and wait_until_ready() throw; a clash on the last attempt is
// reported as Error(child_start_failed) saying how many attempts were made, a fixed port that
// is taken as Error(child_start_failed) naming the port, each with the server's last output as
// the detail. A failed attempt's child is always reaped before the next one starts or the error
// is thrown. `load_timeout`
// applies to each attempt (a clash is noticed within milliseconds).
boost::asio::awaitable<std::unique_ptr<ServerProcess>> start_ready_server(
    boost::asio::any_io_executor executor, LaunchSpec spec, ServerProcessOptions options = {},
    std::chrono::milliseconds load_timeout = engine_option::kDefaultLoadTimeout);

}  // namespace inference::llama_server
