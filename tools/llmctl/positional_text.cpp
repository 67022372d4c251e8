#include "positional_text.hpp"

namespace llmctl {

std::string positional_text(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& word : words) {
    if (!out.empty()) out += ' ';
    out += word;
  }
  return out;
}

}  // namespace llmctl
