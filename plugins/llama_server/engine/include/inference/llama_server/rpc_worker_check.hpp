// Checks of the RPC workers (rpc_workers.hpp) a model's server depends on. llama-server aborts
// (a ggml assert: "Failed to connect to HOST:PORT") when a worker it is given does not answer at
// start, and aborts again ("Remote RPC server crashed or returned malformed response") when one
// dies while it computes; neither message is a typed error, and the second does not say which
// worker. So the engine asks the workers itself: before every start of the server (a worker
// that does not answer refuses the start, naming it) and after the server died under a request
// (naming the worker that stopped answering).
//
// Ownership: plain values. Thread-safety: any thread; the checks run on strands of the caller's
// executor. Cancellation: per-operation cancellation ends the checks (Error(cancelled)); every
// connection attempt is bounded by its timeout.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "inference/llama_server/rpc_workers.hpp"

namespace inference::llama_server {

// A worker on a LAN accepts a TCP connection within milliseconds; two seconds bounds one whose
// host is unroutable (SYNs dropped) so a start or a failed request never waits for the kernel's
// own minutes-long connect timeout.
inline constexpr std::chrono::milliseconds kRpcWorkerConnectTimeout{2'000};

// The workers that do not accept a TCP connection within `timeout` (resolved and tried all at
// once), in the order given; empty when every one answers. A connection is closed at once: a
// worker serves one client at a time, and takes the next after this one's end.
boost::asio::awaitable<std::vector<RpcWorker>> unreachable_rpc_workers(
    std::vector<RpcWorker> workers, std::chrono::milliseconds timeout = kRpcWorkerConnectTimeout);

// "RPC worker 127.0.0.1:50102 does not answer" (or "RPC workers A, B do not answer") for the
// unreachable ones, std::nullopt when every one answers.
boost::asio::awaitable<std::optional<std::string>> rpc_workers_gone(
    std::vector<RpcWorker> workers, std::chrono::milliseconds timeout = kRpcWorkerConnectTimeout);

// Throws Error(backend_unavailable) naming `binary` unless it loads ggml's RPC backend (its
// --list-devices probe, cached per binary, reports "loaded RPC backend"): a build without it
// refuses --rpc ("RPC not supported in this build"), which would otherwise be a failed start.
boost::asio::awaitable<void> require_rpc_backend(std::filesystem::path binary);

}  // namespace inference::llama_server
