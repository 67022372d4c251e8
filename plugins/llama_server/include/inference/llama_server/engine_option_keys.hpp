// The backend_options of the llama-server engine (the llama_cpp and rocm backends): every key a
// host may put into LoadOptions::backend_options, its default and its meaning. Installed with
// the runtime (<inference/llama_server/engine_option_keys.hpp>) so a host application can read
// and use the names; docs/architecture.md shows the same table. The rocm backend's own keys are
// in docs/rocm.md.
//
//   inference::LoadOptions options;
//   options.backend_options[std::string(inference::llama_server::engine_option::kStallTimeoutMs.name)] = "5000";
//
// Values are strings; durations are whole milliseconds. An unknown key fails the load with
// invalid_argument naming it (a typo must not be silently ignored).
// Header-only constants and one inline helper, standard library only; safe to use from any thread.
#pragma once

#include <array>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace inference::llama_server::engine_option {

// One key: its name in backend_options, the value the engine behaves as when it is absent ("" when
// absent means something no value says), and what it means.
struct Key {
  std::string_view name;
  std::string_view default_value;
  std::string_view meaning;
};

// Generous: a large model from a cold disk can take minutes to map and warm up.
inline constexpr std::chrono::milliseconds kDefaultLoadTimeout{300'000};
inline constexpr Key kLoadTimeoutMs{
    "load_timeout_ms", "300000",
    "how long a server start (spawn to a healthy /health) may take before the load fails with load_timeout"};

// Far above any per-token time, even a long prompt's prefill on a CPU build; a stall this long
// is a hung server, not a slow one.
inline constexpr std::chrono::milliseconds kDefaultStallTimeout{60'000};
inline constexpr Key kStallTimeoutMs{
    "stall_timeout_ms", "60000",
    "a request that receives nothing for this long means the server hung (it still answers /health): the server "
    "is killed and restarted, the request fails with child_hung; must be > 0"};

// Three restarts a minute: enough to ride out a crash or two, not enough to spin on a server
// that dies at every start.
inline constexpr uint32_t kDefaultRestartBudget = 3;
inline constexpr Key kRestartBudget{
    "restart_budget", "3",
    "restarts allowed within restart_window_ms; one more failure fails the model with model_failed"};
inline constexpr std::chrono::milliseconds kDefaultRestartWindow{60'000};
inline constexpr Key kRestartWindowMs{"restart_window_ms", "60000",
                                      "the sliding window restart_budget counts restarts in"};

// Short first delay so a one-off crash costs little; doubling spaces out repeated ones.
inline constexpr std::chrono::milliseconds kDefaultRestartBackoff{200};
inline constexpr Key kRestartBackoffMs{
    "restart_backoff_ms", "200", "the delay before the first restart in the window; doubles for each further one"};

// SIGTERM lets llama-server free its resources and exit; five seconds bounds one that does not.
inline constexpr std::chrono::milliseconds kDefaultShutdownGrace{5'000};
inline constexpr Key kShutdownGraceMs{"shutdown_grace_ms", "5000",
                                      "at close(), how long the server has after SIGTERM before SIGKILL"};

inline constexpr Key kCloseMode{
    "close_mode", "cancel",
    "what close() does with requests still running or queued: cancel (they end with the error closed) or drain "
    "(it waits for them, up to drain_timeout_ms)"};
// Room for running generations to finish, yet close() cannot keep a host waiting indefinitely.
inline constexpr std::chrono::milliseconds kDefaultDrainTimeout{30'000};
inline constexpr Key kDrainTimeoutMs{
    "drain_timeout_ms", "30000", "with close_mode=drain, how long close() waits for requests before cancelling them"};

// llama-server notices a closed connection at its next loop iteration (milliseconds); two
// seconds only bounds a server that is itself stuck.
inline constexpr std::chrono::milliseconds kDefaultSlotReleaseTimeout{2'000};
inline constexpr Key kSlotReleaseTimeoutMs{
    "slot_release_timeout_ms", "2000",
    "after a request ends early, how long to wait for the server to report its slot idle before reusing it anyway"};

inline constexpr Key kTransport{
    "transport", "auto",
    "how the engine talks to the server: auto (a UNIX socket when the build supports it, else TCP), unix or tcp"};
inline constexpr Key kPort{
    "port", "",
    "a fixed TCP port on 127.0.0.1 (1-65535; implies transport=tcp); when taken, the load fails with "
    "child_start_failed naming it. Unset: a free port is picked per launch and a clash is retried"};
inline constexpr Key kIgnoreEos{"ignore_eos", "0", "1: generate max_tokens even past end-of-sequence (benchmarks)"};
inline constexpr Key kRestart{"restart", "1",
                              "0: never restart a server that died or hung; the model fails with model_failed instead"};
inline constexpr Key kServerPath{
    "server_path", "",
    "the llama-server binary to run; unusable means the load fails (never another binary). Unset: "
    "LLAMA_SERVER_PATH, the build's configured default, then PATH"};
// One argument per line: llama-server's arguments never contain a line break, so no quoting
// rules are needed and an argument may hold spaces.
inline constexpr char kServerArgsSeparator = '\n';
inline constexpr Key kServerArgs{
    "server_args", "",
    "extra llama-server arguments, one per line (server_args_value() joins them), appended to the command "
    "line; flags the engine manages (--model, --host, --port, --parallel, ...) are refused"};

// One server process unless asked: a second copy of the weights is the user's decision.
inline constexpr uint32_t kDefaultReplicas = 1;
// Far beyond any machine's GPU count; bounds what a typo can spawn.
inline constexpr uint32_t kMaxReplicas = 64;
inline constexpr Key kReplicas{
    "replicas", "1",
    "how many llama-server processes serve the model (1-64), each with parallel_slots slots, pooled behind one "
    "model: requests go to the least-loaded replica, a replica that crashes fails only its own requests. On the "
    "CPU the threads are split between them (unless server_args sets --threads); the rocm backend puts one on each "
    "GPU of its devices option"};

// Embeddings and reranking (TextModel::embed(), rerank()): a server started for them answers
// nothing else (llama-server build 11669 crashes on a /completion when started with --embeddings),
// so a model is loaded either to generate or for these.
inline constexpr Key kEmbeddings{
    "embeddings", "false",
    "true: the server computes embeddings (--embeddings) and the model serves embed(); generate() and chat() then "
    "fail with unsupported"};
inline constexpr Key kPooling{
    "pooling", "",
    "with embeddings=true, how one input's token vectors become its vector: mean, cls, last, rank, or none (one "
    "vector per token, which embed() refuses) (--pooling). Unset: the model's own pooling"};
inline constexpr Key kReranking{
    "reranking", "false",
    "true: the server scores documents against a query (--reranking, implies embeddings with pooling rank) and "
    "the model serves rerank() (not embed(), not generation)"};

// The fit check of a load whose weights and KV cache live in the host's memory (a CPU build, or
// gpu_layers=0) compares against MemAvailable; this caps it instead (tests, or a host that
// wants to keep memory for something else). A cap above 2^40 MiB (a zettabyte) is a typo.
inline constexpr uint64_t kMaxHostMemoryMib = uint64_t{1} << 40;
inline constexpr Key kHostMemoryMib{
    "host_memory_mib", "",
    "the host memory (MiB, at least 1) a load running on the CPU may use for its weights, KV cache and headroom: "
    "with context_len unset the largest context that fits is chosen, an explicit one that does not fit is refused "
    "before the server starts. Unset: MemAvailable of /proc/meminfo at load time"};

// The MiB a host_memory_mib value names, or std::nullopt unless it is a whole number from 1 to
// kMaxHostMemoryMib.
inline std::optional<uint64_t> host_memory_mib_from(std::string_view value) {
  uint64_t mib = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), mib);
  if (ec != std::errc() || end != value.data() + value.size() || mib < 1 || mib > kMaxHostMemoryMib) {
    return std::nullopt;
  }
  return mib;
}
// "backend option host_memory_mib=0: expected a whole number of MiB from 1 to 1099511627776".
inline std::string host_memory_mib_refusal(std::string_view value) {
  return "backend option host_memory_mib=" + std::string(value) + ": expected a whole number of MiB from 1 to " +
         std::to_string(kMaxHostMemoryMib);
}

// The number a replicas value names, or std::nullopt unless it is a whole number from 1 to
// kMaxReplicas. Shared by the engine and by backends that plan replicas before it parses its keys.
inline std::optional<uint32_t> replicas_from(std::string_view value) {
  uint32_t replicas = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), replicas);
  if (ec != std::errc() || end != value.data() + value.size() || replicas < 1 || replicas > kMaxReplicas) {
    return std::nullopt;
  }
  return replicas;
}
// What a refused replicas value is told: "backend option replicas=0: expected 1 to 64".
inline std::string replicas_refusal(std::string_view value) {
  return "backend option replicas=" + std::string(value) + ": expected 1 to " + std::to_string(kMaxReplicas);
}

// The server_args value for `args` (an empty value is no arguments):
//   options.backend_options[std::string(engine_option::kServerArgs.name)] =
//       engine_option::server_args_value({"-t", "1"});
inline std::string server_args_value(std::initializer_list<std::string_view> args) {
  std::string value;
  for (const auto& arg : args) {
    if (&arg != args.begin()) value += kServerArgsSeparator;
    value += arg;
  }
  return value;
}

// Splitting one model over machines (docs/scale-out.md): the llama.cpp RPC workers
// (ggml-rpc-server) whose memory and compute hold the offloaded layers.
inline constexpr Key kRpc{
    "rpc", "",
    "HOST:PORT,HOST:PORT... (IPv6 as [ADDRESS]:PORT, at most 16): llama.cpp RPC workers (ggml-rpc-server) the "
    "model's layers are split over: the llama-server build with the RPC backend (llama-server-rpc, unless "
    "server_path) runs with --rpc and every layer offloaded; each worker must accept a connection before every "
    "start (else backend_unavailable naming it), and a worker that dies under a request ends it with "
    "backend_unavailable naming it. Not with replicas > 1 (a worker serves one client)"};

// Every key, in the order docs/architecture.md lists them.
inline constexpr std::array kKeys = {kLoadTimeoutMs,
                                     kStallTimeoutMs,
                                     kRestartBudget,
                                     kRestartWindowMs,
                                     kRestartBackoffMs,
                                     kShutdownGraceMs,
                                     kCloseMode,
                                     kDrainTimeoutMs,
                                     kSlotReleaseTimeoutMs,
                                     kTransport,
                                     kPort,
                                     kIgnoreEos,
                                     kRestart,
                                     kServerPath,
                                     kServerArgs,
                                     kReplicas,
                                     kEmbeddings,
                                     kPooling,
                                     kReranking,
                                     kHostMemoryMib,
                                     kRpc};

}  // namespace inference::llama_server::engine_option
