// A process-wide memo of `llama-server --version`: the probe spawns the binary and costs
// 15-35 ms of a load, yet a binary's version only changes when the file does. Hosts that load
// several models (or reload one) pay for the probe once per binary file.
//
// Ownership: the cache is a process-wide singleton holding plain values.
// Thread-safety: safe to call from any thread concurrently; concurrent first calls for the same
// binary may each run the probe (the results are identical), never wait for each other's probe.
// Cancellation: a hit completes at once; a miss is probe_server_version(), which never blocks
// the caller's executor and kills its child when cancelled.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>

#include "inference/llama_server/server_binary.hpp"
#include "inference/llama_server/server_version_probe.hpp"

namespace inference::llama_server {

// probe_server_version(binary, timeout), remembered per file. The file is identified by its
// resolved path (symlinks followed) plus device, inode, size and modification time, so
// replacing or editing the binary (an upgrade) probes again. Failures are not remembered: a
// binary that failed its probe is probed again next time. Limit: a wrapper script whose target
// is replaced while the script stays unchanged keeps its old version until the host restarts.
boost::asio::awaitable<ServerVersion> probe_server_version_cached(
    std::filesystem::path binary, std::chrono::milliseconds timeout = kVersionProbeTimeout);

}  // namespace inference::llama_server
