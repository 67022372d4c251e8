// EngineOptions: how the llama-server engine supervises its server, parsed from the engine's
// backend_options keys. The keys, their defaults (with reasons) and meanings are in
// engine_option_keys.hpp, the header installed for host applications.
//
// Thread-safety: plain value. Parsing throws Error(invalid_argument) naming the key at fault.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "inference/llama_server/engine_option_keys.hpp"
#include "inference/llama_server/launch_spec.hpp"
#include "inference/llama_server/rpc_workers.hpp"

namespace inference::llama_server {

struct EngineOptions {
  using ms = std::chrono::milliseconds;

  ms load_timeout = engine_option::kDefaultLoadTimeout;
  ms stall_timeout = engine_option::kDefaultStallTimeout;
  uint32_t restart_budget = engine_option::kDefaultRestartBudget;
  ms restart_window = engine_option::kDefaultRestartWindow;
  ms restart_backoff = engine_option::kDefaultRestartBackoff;
  ms shutdown_grace = engine_option::kDefaultShutdownGrace;
  bool drain_on_close = false;
  ms drain_timeout = engine_option::kDefaultDrainTimeout;
  ms slot_release_timeout = engine_option::kDefaultSlotReleaseTimeout;
  TransportChoice transport = TransportChoice::automatic;
  uint16_t port = 0;  // 0: picked per launch
  bool ignore_eos = false;
  bool restart = true;
  std::vector<std::string> server_args;  // appended to the server's command line
  uint32_t replicas = engine_option::kDefaultReplicas;
  bool embeddings = false;  // --embeddings; also true with reranking
  std::string pooling;      // --pooling; empty: the model's own
  bool reranking = false;   // --reranking
  // host_memory_mib: the cap of the host-memory fit check (plain_model_launch()); 0: unset,
  // MemAvailable is read at load time.
  uint64_t host_memory_mib = 0;
  // rpc: the workers the layers are split over (rpc_workers.hpp); empty: none, all local.
  std::vector<RpcWorker> rpc_workers;

  // The server answers embeddings (and maybe rerank) only: generate() and chat() are refused.
  bool serves_embeddings() const noexcept { return embeddings || reranking; }

  bool operator==(const EngineOptions&) const = default;
};

// Parses the keys of engine_option::kKeys; unknown keys are refused (a typo must not be silently ignored) unless
// listed in `extra_known_keys` (keys a backend built on the engine handles itself).
// The llama-server arguments the embeddings keys stand for (--embeddings, --pooling, --reranking).
std::vector<std::string> embedding_arguments(const EngineOptions& options);

EngineOptions parse_engine_options(const std::map<std::string, std::string>& options,
                                   const std::vector<std::string>& extra_known_keys = {});

}  // namespace inference::llama_server
