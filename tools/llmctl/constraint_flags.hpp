// --json-schema FILE and --grammar FILE: constrained output for the commands that generate
// (generate, chat, bench). Each reads its file while the command line is parsed, so a file that
// cannot be read is a usage error (exit 2) naming it; the two flags exclude each other. What the
// file holds is the backend's to judge (a schema that is not JSON, a grammar that does not parse:
// invalid_argument, exit 1).
#pragma once

#include "inference/generate_config.hpp"

namespace CLI {
class App;
}

namespace llmctl {

// Adds both flags; they fill config.json_schema and config.grammar, which must outlive parsing.
void add_constraint_flags(CLI::App& command, inference::GenerateConfig& config);

}  // namespace llmctl
