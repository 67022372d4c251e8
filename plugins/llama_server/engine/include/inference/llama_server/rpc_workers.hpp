// RpcWorkers: the llama.cpp RPC workers (ggml-rpc-server) one model's layers are split over, as
// the `rpc` engine option names them ("HOST:PORT,HOST:PORT", IPv6 as "[::1]:PORT"). The engine
// then runs the llama-server build with ggml's RPC backend (llama-server-rpc), passes the list
// as --rpc and offloads every layer, which llama-server spreads over the workers.
//
// Ownership: plain values. Thread-safety: the functions are pure; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace inference::llama_server {

// More workers than this is a typo, not a cluster: llama-server makes one round trip per worker
// per token, so each one adds latency to every token.
inline constexpr std::size_t kMaxRpcWorkers = 16;

// ggml prints a backtrace through gdb when it aborts, which takes a second or two and buries the
// assert under a page of frames; set to 1 for the RPC build's processes, whose aborts (a worker
// lost) the engine reports itself.
inline constexpr std::string_view kNoBacktraceVariable = "GGML_NO_BACKTRACE";

struct RpcWorker {
  std::string host;  // a name or an address; an IPv6 address without its brackets
  uint16_t port = 0;

  // "127.0.0.1:50052", "[::1]:50052": as llama-server's --rpc and the error messages spell it.
  std::string endpoint() const;
  bool operator==(const RpcWorker&) const = default;
};

// Parses the `rpc` option's value. Throws Error(invalid_argument) naming the entry at fault: an
// empty entry, a missing or bad port (1-65535), an empty host, an unbracketed IPv6 address, a
// repeated worker, more than kMaxRpcWorkers entries.
std::vector<RpcWorker> parse_rpc_workers(std::string_view value);

// "127.0.0.1:50101,127.0.0.1:50102": the --rpc argument.
std::string rpc_argument(const std::vector<RpcWorker>& workers);

// What ModelInfo::serving_device says of a model split over `workers`:
// "RPC: 127.0.0.1:50101, 127.0.0.1:50102 (+ local CPU)".
std::string rpc_serving_device(const std::vector<RpcWorker>& workers);

}  // namespace inference::llama_server
