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

// llama-server's own view of the workers: `<binary> --rpc <workers> --list-devices`, which connects
// to each worker and prints "RPC0: 127.0.0.1:50101 (24105 MiB, 24105 MiB free)" per worker. Run at
// load, after the TCP check, because it is what tells a build without ggml's RPC backend (it
// answers "RPC not supported in this build") from one with it, reliably: llama.cpp's
// "loaded RPC backend" log line comes from an asynchronous logger that can lose it when the
// process exits at once (seen under load). Throws Error(backend_unavailable) naming the binary
// for a build without RPC, naming the workers it did not list, or saying that the query did not
// finish within `timeout` (a worker serves one client at a time: one busy with another
// llama-server keeps it waiting); the detail holds the probe's last lines. Returns the listing.
boost::asio::awaitable<std::vector<std::string>> probe_rpc_workers(std::filesystem::path binary,
                                                                   std::vector<RpcWorker> workers,
                                                                   std::chrono::milliseconds timeout);

// How long that probe may take: it connects to every worker and asks for its memory (~0.2 s on
// loopback); ten seconds allows a slow link and still ends a wait on a busy worker.
inline constexpr std::chrono::milliseconds kRpcWorkerProbeTimeout{10'000};

}  // namespace inference::llama_server
