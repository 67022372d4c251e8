// The stub's embeddings: a deterministic vector per text (a hash of it spread over the
// dimension, L2-normalised), so identical texts give identical vectors and tests of embed()'s
// callers (the gateway) need no server.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace inference::stub {

// ModelInfo::embedding_length of every stub model.
inline constexpr uint64_t kEmbeddingLength = 16;

// `dimension` floats of unit length (L2), a function of `text` alone.
std::vector<float> embedding_of(std::string_view text, uint64_t dimension);

}  // namespace inference::stub
