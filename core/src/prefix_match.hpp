// How much of a new prompt a slot's cache already holds, judged from the text of the last
// prompt placed on it: the length of their common prefix, as a share of the new prompt. Pure
// functions; the slot scheduler (slot_table.cpp) decides with them.
#pragma once

#include <cstddef>
#include <string_view>

namespace inference::detail {

// Bytes `a` and `b` have in common from their start, looking at no more than `max_bytes`.
std::size_t common_prefix_length(std::string_view a, std::string_view b, std::size_t max_bytes) noexcept;

// A common prefix of `common` bytes as a share of the part of `prompt` that is compared (its
// first `max_bytes`): 1 when a cache holds all of it, 0 when that part is empty (nothing to reuse).
double prefix_share(std::size_t common, std::string_view prompt, std::size_t max_bytes) noexcept;

}  // namespace inference::detail
