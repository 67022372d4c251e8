#include "prefix_match.hpp"

#include <algorithm>

namespace inference::detail {

std::size_t common_prefix_length(std::string_view a, std::string_view b, std::size_t max_bytes) noexcept {
  const std::size_t limit = std::min({a.size(), b.size(), max_bytes});
  const auto [end_a, end_b] = std::mismatch(a.begin(), a.begin() + limit, b.begin());
  return static_cast<std::size_t>(end_a - a.begin());
}

double prefix_share(std::size_t common, std::string_view prompt, std::size_t max_bytes) noexcept {
  const std::size_t compared = std::min(prompt.size(), max_bytes);
  if (compared == 0) return 0.0;
  return static_cast<double>(common) / static_cast<double>(compared);
}

}  // namespace inference::detail
