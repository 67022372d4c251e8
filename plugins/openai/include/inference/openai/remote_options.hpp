// RemoteOptions: the openai backend's settings, parsed from LoadOptions::backend_options. The key
// names, defaults and reasons are here; docs/scale-out.md describes them for users.
//
// The API key is read from the environment variable api_key_env names, or from the file
// api_key_file names, never from an option value itself: option values appear on command lines
// (`llmctl --opt`), and so in process listings and shell histories. The key is kept only in
// RemoteOptions::api_key and the Authorization header; no message or log ever contains it.
//
// Ownership: plain values. Thread-safety: parse_remote_options() is safe from any thread (it
// reads the environment and a file). Cancellation: not applicable.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "inference/load_options.hpp"
#include "inference/openai/remote_url.hpp"

namespace inference::openai {

// Defaults, with reasons.
// A TCP connect plus a TLS handshake across a continent takes well under a second; ten allow for
// a loaded proxy without letting a black-holed address hold a request for minutes.
inline constexpr std::chrono::milliseconds kDefaultConnectTimeout{10'000};
// The longest silence a healthy server keeps: prompt evaluation before the first token, which
// llama-server does not interrupt with anything. The engine's stall timeout is the same.
inline constexpr std::chrono::milliseconds kDefaultReadTimeout{60'000};
// Retries of a request that failed before its first token (connection failure, 5xx, 429): three
// ride out a server restart or a short overload; more only delays the error.
inline constexpr std::uint32_t kDefaultRetries = 3;
// The first retry's delay; it doubles for each further one.
inline constexpr std::chrono::milliseconds kDefaultRetryBackoff{200};
// The longest one wait between attempts may be, a 429's Retry-After included: a server that
// asks for more is answered with overloaded at once rather than holding the request.
inline constexpr std::chrono::milliseconds kDefaultMaxRetryDelay{10'000};
// An API key is a few hundred bytes at most; this bounds reading a wrong file.
inline constexpr std::size_t kMaxApiKeyBytes = 16 * 1024;
// max_in_flight above this is a typo, not a remote's capacity.
inline constexpr std::uint32_t kMaxInFlightLimit = 4096;

// How generate() talks to the server. `openai`: POST {api_root}/completions, text only (token id 0).
// `llama_server`: llama-server's native POST /completion with "return_tokens", which streams each
// token's id with its text and says whether generation ended at end-of-sequence, a stop string or
// the limit. chat() always uses {api_root}/chat/completions (llama-server streams no ids there).
enum class RemoteProtocol { openai, llama_server };

struct RemoteOptions {
  RemoteUrl url;
  std::string model;           // the remote model name sent in every request
  std::string api_key;         // empty: no Authorization header
  std::string api_key_source;  // "api_key_env=NAME" or "api_key_file=PATH", for messages; never the key
  std::uint32_t max_in_flight = kDefaultParallelSlots;
  std::uint32_t queue_limit = kDefaultQueueLimit;
  std::chrono::milliseconds connect_timeout = kDefaultConnectTimeout;
  std::chrono::milliseconds read_timeout = kDefaultReadTimeout;
  std::uint32_t retries = kDefaultRetries;
  std::chrono::milliseconds retry_backoff = kDefaultRetryBackoff;
  std::chrono::milliseconds max_retry_delay = kDefaultMaxRetryDelay;
  std::string ca_file;      // empty: the system's trusted certificates
  bool ignore_eos = false;  // send ignore_eos: true (llama-server and vLLM accept it), for benchmarks
  RemoteProtocol protocol = RemoteProtocol::openai;  // option protocol=openai|llama-server
};

// Parses the backend options. `model_argument` is the path/model argument of load_model(): the
// model name when the `model` option is absent. `options` supplies queue_limit, and max_in_flight
// when the option is absent (parallel_slots, whose default is 4). Throws Error(invalid_argument)
// naming the key for an unknown key, a malformed value, a missing base_url or model, both key
// sources at once, an unset or empty key variable, or a key file that cannot be read, is empty,
// or is readable by every user.
RemoteOptions parse_remote_options(const std::string& model_argument, const LoadOptions& options);

}  // namespace inference::openai
