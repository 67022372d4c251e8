// The exit statuses llmctl promises to scripts.
#pragma once

namespace llmctl {

inline constexpr int kExitSuccess = 0;
inline constexpr int kExitFailure = 1;  // the command ran and failed (backend, model, stream)
inline constexpr int kExitUsage = 2;    // the command line itself was wrong
// A command ended by signal N exits with 128 + N (130 for Ctrl-C), as shells report it.
inline constexpr int kExitSignalBase = 128;

}  // namespace llmctl
