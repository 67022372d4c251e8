// Watching a spawned child until it is gone (private to the llama_server library): its output
// read into an OutputRing until EOF, and its exit awaited, reaped and turned into an ExitStatus.
// Shared by ServerProcess (llama-server) and RpcWorkerProcess (ggml-rpc-server).
//
// Ownership: the references must outlive the awaitables; callers keep them in a state object the
// calling coroutine holds by shared_ptr. Thread-safety: none; each runs on the child's executor
// (its pipe and handle are bound to it). Cancellation: neither is cancelled; they end with the
// child (EOF, exit).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>

#include "child_spawn.hpp"
#include "inference/llama_server/output_ring.hpp"
#include "inference/llama_server/server_process.hpp"

namespace inference::llama_server::detail {

// Appends the child's output to `ring` until EOF (the child and everything it forked closed it),
// then sets `output_closed` and cancels `output_drained` (a timer that never expires: its
// cancellation is the event).
boost::asio::awaitable<void> pump_child_output(SpawnedChild& child, OutputRing& ring, bool& output_closed,
                                               boost::asio::steady_timer& output_drained);

// Waits for the child to exit and reaps it, calls `on_reaped` at once (the pid may be reused from
// then on), SIGKILLs the rest of its process group (safe after the reap: the kernel keeps a
// group's id reserved while any member lives), waits up to kOutputDrainAfterExit for the output's
// EOF, flushes the ring's partial line, and returns the exit with the output's last
// kErrorTailLines lines. The exit code and signal are unknown when someone else reaped it.
boost::asio::awaitable<ExitStatus> reap_child(SpawnedChild& child, OutputRing& ring, const bool& output_closed,
                                              boost::asio::steady_timer& output_drained,
                                              const std::function<void()>& on_reaped);

}  // namespace inference::llama_server::detail
