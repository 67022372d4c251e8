// The stub backend's knobs, parsed from LoadOptions::backend_options. They exist to exercise
// the core: delays, failures, a simulated server crash, a hang, a load failure.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "inference/error.hpp"

namespace inference::stub {

struct StubOptions {
  std::chrono::microseconds token_delay{0};    // token_delay_us: pause before each token
  std::chrono::microseconds prefill_delay{0};  // prefill_delay_us: pause before the first token
  std::optional<uint64_t> fail_after_tokens;   // fail_after_tokens: the stream fails after N tokens
  errc fail_code = errc::protocol_error;       // fail_code: the error it fails with (a code name)
  std::optional<uint64_t> crash_after_tokens;  // crash_after_tokens: after N tokens in total, every
                                               // in-flight stream fails with child_exited
  std::optional<uint64_t> hang_after_tokens;   // hang_after_tokens: the stream stops producing
  std::optional<errc> fail_load;               // fail_load: load_model throws this code
  std::string fail_detail;                     // fail_detail: Error::detail() of those failures
};

// Throws Error(invalid_argument) naming the key and value at fault, including unknown keys.
StubOptions parse_stub_options(const std::map<std::string, std::string>& options);

// "child_exited" -> errc::child_exited; nullopt for an unknown name.
std::optional<errc> error_code_from_name(const std::string& name);

}  // namespace inference::stub
