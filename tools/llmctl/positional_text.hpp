// The text a command takes as its trailing arguments: `llmctl generate Once upon a time` is the
// prompt "Once upon a time", so a prompt needs no quoting.
#pragma once

#include <string>
#include <vector>

namespace llmctl {

// The words joined with single spaces.
std::string positional_text(const std::vector<std::string>& words);

}  // namespace llmctl
