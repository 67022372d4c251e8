// Running `llama-server --version` to learn which build a binary is (server_binary.hpp parses
// the answer).
//
// Ownership: the probe owns its child until it has been reaped.
// Thread-safety: probes may run concurrently from any thread.
// Cancellation: probe_server_version() is an awaitable that never blocks its executor while the
// child runs (up to kVersionProbeTimeout); cancelling it kills and reaps the child and throws
// Error(cancelled).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <filesystem>

#include "inference/llama_server/server_binary.hpp"

namespace inference::llama_server {

// Bounded because the probe must never hang a load: the dynamic loader plus ggml backend
// discovery take well under a second on a cold cache; 10 s leaves room for a slow disk.
inline constexpr std::chrono::milliseconds kVersionProbeTimeout{10'000};
// The version text is a few lines; anything beyond this is noise we refuse to buffer.
inline constexpr std::size_t kVersionProbeOutputLimit = 64 * 1024;

// Runs `<binary> --version` once (explicit argv, no shell, stdin from /dev/null, stdout and
// stderr captured up to kVersionProbeOutputLimit) and parses it. The child's output and exit are
// awaited on a strand of the caller's executor, which meanwhile runs other work; only the spawn
// itself (fork + exec) and the reap of a child killed at the timeout are synchronous, both bounded
// by the kernel. Throws Error(child_start_failed) naming the binary when it cannot be started,
// does not finish within `timeout` (it is then killed and reaped), exits unsuccessfully, or
// prints no version line; the detail holds the last lines of its output.
boost::asio::awaitable<ServerVersion> probe_server_version(std::filesystem::path binary,
                                                           std::chrono::milliseconds timeout = kVersionProbeTimeout);

}  // namespace inference::llama_server
