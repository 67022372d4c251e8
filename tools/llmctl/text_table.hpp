// TextTable: rows of text printed as left-aligned columns for people (scripts use --json).
// Columns are as wide as their widest cell (in bytes; fine for the ASCII llmctl prints).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace llmctl {

class TextTable {
 public:
  void add_row(std::vector<std::string> cells);
  void print(std::FILE* out) const;

 private:
  std::vector<std::vector<std::string>> rows_;
};

}  // namespace llmctl
