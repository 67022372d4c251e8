// Asking the real llama-server which of its slots are busy (GET /slots), from the outside.
//
// The plugin interface hides the engine's endpoint on purpose (a host app sees a TextModel), so
// the probe finds it the way an operator would: the server's --host/--port from
// /proc/<pid>/cmdline and its per-launch API key from /proc/<pid>/environ (LLAMA_API_KEY; the
// same user may read it). No runtime code is changed or linked for this.
//
// Ownership: plain values. Thread-safety: free functions; the awaitable runs on the caller's
// executor. Cancellation: each request is bounded by kSlotsRequestTimeout.
#pragma once

#include <sys/types.h>

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace inference::soak {

// A stuck server must not hang the soak's end checks.
inline constexpr std::chrono::seconds kSlotsRequestTimeout{10};

struct ServerAddress {
  std::string socket_path;  // UNIX socket (--host ending in .sock), or empty for TCP
  uint16_t port = 0;        // TCP on 127.0.0.1
  std::string api_key;
  std::string describe() const;
};

// The address of the server process `pid`, or std::nullopt when /proc does not say.
std::optional<ServerAddress> server_address_of(pid_t pid);

struct SlotsView {
  uint32_t total = 0;
  uint32_t processing = 0;  // slots with is_processing == true
};

// GET /slots. Throws inference::Error (protocol_error, child_error, cancelled on timeout).
boost::asio::awaitable<SlotsView> query_slots(ServerAddress address);

}  // namespace inference::soak
