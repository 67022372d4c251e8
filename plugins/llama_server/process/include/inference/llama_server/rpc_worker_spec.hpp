// RpcWorkerSpec: how to run one ggml-rpc-server (llama.cpp's RPC worker, which lends this
// machine's CPU or GPUs to a llama-server elsewhere), and the pure decisions around it: which
// binds are safe, the worker's argv, and what its log lines mean.
//
// ggml-rpc-server has no authentication: anyone who can connect to its port can run
// computations on the worker and read or write its memory buffers. So the spec refuses any
// address outside 127.0.0.0/8 and ::1 unless allow_remote_bind says the user means it.
//
// Ownership: plain values. Thread-safety: the functions are pure and safe from any thread.
// Cancellation: nothing here waits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace inference::llama_server {

// ggml-rpc-server's own default address, and ours.
inline constexpr std::string_view kRpcWorkerDefaultHost = "127.0.0.1";
// What ggml-rpc-server prints (and then exits 0) when it cannot bind its address.
inline constexpr std::string_view kRpcWorkerBindFailureMarker = "Failed to create server socket";

struct RpcWorkerSpec {
  std::filesystem::path binary;  // find_rpc_worker_binary()
  std::string host = std::string(kRpcWorkerDefaultHost);
  std::uint16_t port = 0;            // required: 1..65535
  std::optional<int> threads;        // -t: CPU threads (the worker's default is 1)
  std::vector<std::string> devices;  // -d: the devices to offer (names as ggml lists them)
  bool cache = false;                // -c: the worker's local file cache for tensors
  bool allow_remote_bind = false;    // bind a non-loopback address anyway
};

// True for an IP literal in 127.0.0.0/8 or ::1 (also as ::ffff:127.x.y.z); false for anything
// else, including 0.0.0.0, :: and host names.
bool is_loopback_host(std::string_view host) noexcept;

// Throws Error(invalid_argument) naming the flag at fault: a host that is not an IP literal, port
// 0, threads < 1, an empty device name, a non-loopback host without allow_remote_bind (the
// message says what such a bind would expose), or an IPv6 address (the worker only binds IPv4).
void check_rpc_worker_spec(const RpcWorkerSpec& spec);

// The worker's arguments (without argv[0]): -H host -p port [-t N] [-d a,b] [-c].
std::vector<std::string> rpc_worker_arguments(const RpcWorkerSpec& spec);

// Where to connect to see whether the worker accepts: its host, or the loopback address of the
// same family when it binds a wildcard (0.0.0.0 -> 127.0.0.1, :: -> ::1).
std::string rpc_worker_probe_host(std::string_view host);

// One device as the worker lists it at start ("  CPU: AMD EPYC (24105 MiB, 24105 MiB free)") in
// short form ("CPU: AMD EPYC, 24105 MiB"); std::nullopt for any other line.
std::optional<std::string> rpc_worker_device_summary(std::string_view line);

}  // namespace inference::llama_server
