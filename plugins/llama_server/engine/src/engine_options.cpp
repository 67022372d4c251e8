#include "inference/llama_server/engine_options.hpp"

#include <algorithm>
#include <charconv>

#include "inference/error.hpp"

namespace inference::llama_server {

namespace {

uint64_t parse_number(const std::string& key, const std::string& value) {
  uint64_t out = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), out);
  if (ec != std::errc() || end != value.data() + value.size()) {
    throw Error(errc::invalid_argument, "backend option " + key + "=" + value + ": not a non-negative integer");
  }
  return out;
}

bool parse_flag(const std::string& key, const std::string& value) {
  if (value == "1" || value == "true") return true;
  if (value == "0" || value == "false") return false;
  throw Error(errc::invalid_argument, "backend option " + key + "=" + value + ": expected 0 or 1");
}

// TCP ports that can be named: 0 means "pick one", so it is not a port a user can ask for.
constexpr uint64_t kMinPort = 1;
constexpr uint64_t kMaxPort = 65535;

// "load_timeout_ms, stall_timeout_ms, ...": the keys of engine_option::kKeys, for an error message.
std::string known_keys() {
  std::string list;
  for (const auto& key : engine_option::kKeys) list += (list.empty() ? "" : ", ") + std::string(key.name);
  return list;
}

EngineOptions::ms parse_ms(const std::string& key, const std::string& value) {
  return EngineOptions::ms(static_cast<int64_t>(parse_number(key, value)));
}

TransportChoice parse_transport(const std::string& value) {
  if (value == "auto") return TransportChoice::automatic;
  if (value == "unix") return TransportChoice::unix_socket;
  if (value == "tcp") return TransportChoice::tcp;
  throw Error(errc::invalid_argument, "backend option transport=" + value + ": expected auto, unix or tcp");
}

// One argument per line (engine_option::kServerArgsSeparator); an empty value is none.
std::vector<std::string> split_server_args(const std::string& value) {
  std::vector<std::string> args;
  if (value.empty()) return args;
  std::string::size_type start = 0;
  for (;;) {
    const auto end = value.find(engine_option::kServerArgsSeparator, start);
    args.push_back(value.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return args;
    start = end + 1;
  }
}

bool is_pooling(const std::string& value) {
  return value == "none" || value == "mean" || value == "cls" || value == "last" || value == "rank";
}

// embeddings, pooling, reranking; false when `key` is none of them.
bool parse_embedding_option(const std::string& key, const std::string& value, EngineOptions& out) {
  if (key == engine_option::kEmbeddings.name) {
    out.embeddings = parse_flag(key, value);
  } else if (key == engine_option::kReranking.name) {
    out.reranking = parse_flag(key, value);
  } else if (key == engine_option::kPooling.name) {
    if (!is_pooling(value)) {
      throw Error(errc::invalid_argument,
                  "backend option pooling=" + value + ": expected none, mean, cls, last or rank");
    }
    out.pooling = value;
  } else {
    return false;
  }
  return true;
}

// After the loop, when every key is known: pooling only means something to an embeddings server,
// and a reranker pools with rank.
void check_embedding_options(const EngineOptions& out) {
  if (out.pooling.empty()) return;
  if (!out.serves_embeddings()) {
    throw Error(errc::invalid_argument, "backend option pooling=" + out.pooling + " needs embeddings=true");
  }
  if (out.reranking && out.pooling != "rank") {
    throw Error(errc::invalid_argument,
                "backend option pooling=" + out.pooling + " contradicts reranking=true (a reranker pools with rank)");
  }
}

}  // namespace

std::vector<std::string> embedding_arguments(const EngineOptions& options) {
  std::vector<std::string> args;
  if (options.embeddings) args.emplace_back("--embeddings");
  if (options.reranking) args.emplace_back("--reranking");
  if (!options.pooling.empty()) args.insert(args.end(), {"--pooling", options.pooling});
  return args;
}

EngineOptions parse_engine_options(const std::map<std::string, std::string>& options,
                                   const std::vector<std::string>& extra_known_keys) {
  EngineOptions out;
  for (const auto& [key, value] : options) {
    if (key == engine_option::kLoadTimeoutMs.name) {
      out.load_timeout = parse_ms(key, value);
    } else if (key == engine_option::kStallTimeoutMs.name) {
      out.stall_timeout = parse_ms(key, value);
      if (out.stall_timeout.count() == 0)
        throw Error(errc::invalid_argument, "backend option stall_timeout_ms must be > 0");
    } else if (key == engine_option::kRestartBudget.name) {
      out.restart_budget = static_cast<uint32_t>(parse_number(key, value));
    } else if (key == engine_option::kRestartWindowMs.name) {
      out.restart_window = parse_ms(key, value);
    } else if (key == engine_option::kRestartBackoffMs.name) {
      out.restart_backoff = parse_ms(key, value);
    } else if (key == engine_option::kShutdownGraceMs.name) {
      out.shutdown_grace = parse_ms(key, value);
    } else if (key == engine_option::kCloseMode.name) {
      if (value != "cancel" && value != "drain") {
        throw Error(errc::invalid_argument, "backend option close_mode=" + value + ": expected cancel or drain");
      }
      out.drain_on_close = value == "drain";
    } else if (key == engine_option::kDrainTimeoutMs.name) {
      out.drain_timeout = parse_ms(key, value);
    } else if (key == engine_option::kSlotReleaseTimeoutMs.name) {
      out.slot_release_timeout = parse_ms(key, value);
    } else if (key == engine_option::kTransport.name) {
      out.transport = parse_transport(value);
    } else if (key == engine_option::kPort.name) {
      const uint64_t port = parse_number(key, value);
      if (port < kMinPort || port > kMaxPort) {
        throw Error(errc::invalid_argument, "backend option port=" + value + ": expected 1 to 65535");
      }
      out.port = static_cast<uint16_t>(port);
    } else if (key == engine_option::kIgnoreEos.name) {
      out.ignore_eos = parse_flag(key, value);
    } else if (key == engine_option::kRestart.name) {
      out.restart = parse_flag(key, value);
    } else if (key == engine_option::kServerPath.name) {
      // Read by explicit_server_path(), which the availability checks use without a load.
    } else if (key == engine_option::kServerArgs.name) {
      out.server_args = split_server_args(value);
    } else if (key == engine_option::kReplicas.name) {
      const std::optional<uint32_t> replicas = engine_option::replicas_from(value);
      if (!replicas) throw Error(errc::invalid_argument, engine_option::replicas_refusal(value));
      out.replicas = *replicas;
    } else if (key == engine_option::kHostMemoryMib.name) {
      const std::optional<uint64_t> mib = engine_option::host_memory_mib_from(value);
      if (!mib) throw Error(errc::invalid_argument, engine_option::host_memory_mib_refusal(value));
      out.host_memory_mib = *mib;
    } else if (key == engine_option::kRpc.name) {
      out.rpc_workers = parse_rpc_workers(value);
    } else if (parse_embedding_option(key, value, out)) {
      // done
    } else if (std::find(extra_known_keys.begin(), extra_known_keys.end(), key) == extra_known_keys.end()) {
      throw Error(errc::invalid_argument, "backend option " + key + ": unknown (known: " + known_keys() + ")");
    }
  }
  check_embedding_options(out);
  // A worker serves one client at a time: a second server would wait for the first to let go.
  if (!out.rpc_workers.empty() && out.replicas > 1) {
    throw Error(errc::invalid_argument, "backend option rpc cannot serve " + std::to_string(out.replicas) +
                                            " replicas (an RPC worker serves one llama-server at a time): leave "
                                            "replicas at 1");
  }
  // After the loop, when both keys are known: a fixed port means TCP.
  if (out.port != 0) {
    if (out.transport == TransportChoice::unix_socket) {
      throw Error(errc::invalid_argument,
                  "backend option port=" + std::to_string(out.port) + " needs transport=tcp (or auto), not unix");
    }
    out.transport = TransportChoice::tcp;
    if (out.replicas > 1) {
      throw Error(errc::invalid_argument, "backend option port=" + std::to_string(out.port) + " cannot serve " +
                                              std::to_string(out.replicas) +
                                              " replicas (each needs its own port): leave port unset");
    }
  }
  return out;
}

}  // namespace inference::llama_server
