#include "text_table.hpp"

#include <fmt/core.h>

#include <algorithm>

namespace llmctl {

namespace {
constexpr std::size_t kColumnGap = 2;
}

void TextTable::add_row(std::vector<std::string> cells) { rows_.push_back(std::move(cells)); }

void TextTable::print(std::FILE* out) const {
  std::vector<std::size_t> widths;
  for (const auto& row : rows_) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (std::size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows_) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line.append(widths[i] - row[i].size() + kColumnGap, ' ');
    }
    fmt::print(out, "{}\n", line);
  }
}

}  // namespace llmctl
