// Bearer-token check for the gateway's API key. The comparison takes the same time whatever the
// offered key is (it always walks the whole expected key), so response timing does not tell a
// client how many leading characters it guessed.
#pragma once

#include <string>
#include <string_view>

namespace inference::gateway {

// True when `expected` is empty (no key configured) or `authorization` is "Bearer <expected>".
bool authorized(std::string_view authorization, std::string_view expected) noexcept;

// Constant-time in the length of `expected`.
bool constant_time_equal(std::string_view offered, std::string_view expected) noexcept;

}  // namespace inference::gateway
