// How to load a model. Backends ignore fields that do not apply to them (documented per backend).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace inference {

inline constexpr uint32_t kDefaultParallelSlots = 4;
// Waiting requests beyond the busy slots; more are refused with overloaded at once.
inline constexpr uint32_t kDefaultQueueLimit = 1024;
// Tokens a stream buffers ahead of a slow reader before its producer waits (backpressure).
inline constexpr std::size_t kDefaultStreamBufferTokens = 1024;

struct LoadOptions {
  // Not an aggregate on purpose: g++ 12 miscompiles coroutine parameters initialised from
  // prvalue aggregates that own memory (see docs/architecture.md).
  LoadOptions() = default;

  uint32_t context_len = 0;  // per slot; 0 = the model's default
  int32_t gpu_layers = -1;   // -1 = all, 0 = CPU only
  uint32_t parallel_slots = kDefaultParallelSlots;
  uint32_t queue_limit = kDefaultQueueLimit;
  std::size_t stream_buffer_tokens = kDefaultStreamBufferTokens;
  std::string chat_template;  // override; empty = the model's own
  int32_t device = -1;        // GPU index, -1 = auto
  // Backend-specific knobs (which program to run, its extra arguments, timeouts...): each backend
  // documents its keys and refuses keys it does not know with invalid_argument.
  std::map<std::string, std::string> backend_options;
  // Receives every line the backend's child process prints (e.g. a server's log), without the
  // newline, as it arrives: for forwarding to the host's logger. Called on an internal thread,
  // one line at a time and in order; it must be thread-safe, quick and must not throw. Empty =
  // not forwarded (errors still quote the child's last lines). Backends without a child process
  // never call it.
  std::function<void(std::string_view line)> child_log;
};

}  // namespace inference
