// EngineOptions: how the llama-server engine supervises its server, from LoadOptions and the
// engine's backend_options keys. Every timeout and budget is a named default with its reason.
//
// backend_options keys (all optional):
//   load_timeout_ms          how long a start may take before load_timeout
//   stall_timeout_ms         a request with no token for this long means the server is hung
//   restart_budget           restarts allowed within restart_window_ms before the model fails
//   restart_window_ms        the window of the restart budget
//   restart_backoff_ms       the first restart's delay; doubles for each further one in the window
//   shutdown_grace_ms        SIGTERM → SIGKILL grace at close()
//   close_mode               "cancel" (default: in-flight requests end with closed) or "drain"
//   drain_timeout_ms         with close_mode=drain, how long close() waits for requests to finish
//   slot_release_timeout_ms  after a cancelled request, how long to wait for the server to free
//                            the slot before handing it on anyway
//   transport                "auto" (UNIX socket where supported), "unix" or "tcp"
//   port                     a fixed TCP port on 127.0.0.1 (1-65535; implies transport=tcp);
//                            taken → the load fails with server_start_failed naming it. Unset:
//                            a free port is picked per launch, and a clash is retried
//   ignore_eos               "1": generate max_tokens even past end-of-sequence (benchmarks)
//   restart                  "0" disables automatic restarts
//
// Thread-safety: plain value. Parsing throws Error(invalid_argument) naming the key at fault.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "inference/llama_server/launch_spec.hpp"

namespace inference::llama_server {

struct EngineOptions {
  using ms = std::chrono::milliseconds;

  // Generous: a large model from a cold disk can take minutes to map and warm up.
  static constexpr ms kDefaultLoadTimeout{300'000};
  // Far above any per-token time, even a long prompt's prefill on a CPU build; a stall this long
  // is a hung server, not a slow one.
  static constexpr ms kDefaultStallTimeout{60'000};
  // Three restarts a minute: enough to ride out a crash or two, not enough to spin on a server
  // that dies at every start.
  static constexpr uint32_t kDefaultRestartBudget = 3;
  static constexpr ms kDefaultRestartWindow{60'000};
  // Short first delay so a one-off crash costs little; doubling spaces out repeated ones.
  static constexpr ms kDefaultRestartBackoff{200};
  static constexpr ms kDefaultShutdownGrace{5'000};
  static constexpr ms kDefaultDrainTimeout{30'000};
  // llama-server notices a closed connection at its next loop iteration (milliseconds); two
  // seconds only bounds a server that is itself stuck.
  static constexpr ms kDefaultSlotReleaseTimeout{2'000};

  ms load_timeout = kDefaultLoadTimeout;
  ms stall_timeout = kDefaultStallTimeout;
  uint32_t restart_budget = kDefaultRestartBudget;
  ms restart_window = kDefaultRestartWindow;
  ms restart_backoff = kDefaultRestartBackoff;
  ms shutdown_grace = kDefaultShutdownGrace;
  bool drain_on_close = false;
  ms drain_timeout = kDefaultDrainTimeout;
  ms slot_release_timeout = kDefaultSlotReleaseTimeout;
  TransportChoice transport = TransportChoice::automatic;
  uint16_t port = 0;  // 0: picked per launch
  bool ignore_eos = false;
  bool restart = true;
};

// Parses the keys above; unknown keys are refused (a typo must not be silently ignored) unless
// listed in `extra_known_keys` (keys a backend built on the engine handles itself).
EngineOptions parse_engine_options(const std::map<std::string, std::string>& options,
                                   const std::vector<std::string>& extra_known_keys = {});

}  // namespace inference::llama_server
