// The stub's deterministic "model": a fixed word list and a token sequence that depends only on
// the prompt, the seed and the position, so tests can predict every token.
#pragma once

#include <cstdint>
#include <string_view>

#include "inference/types.hpp"

namespace inference::stub {

inline constexpr int32_t kFirstWordId = 100;  // ids below are reserved, like real vocabularies' specials

uint32_t vocabulary_size() noexcept;

// The seed for a request: a hash of the prompt mixed with the configured seed.
uint64_t sequence_seed(std::string_view prompt, uint64_t seed) noexcept;

// The token at `position` of the sequence. Its text is " " + word.
Token token_at(uint64_t sequence_seed, uint64_t position);

// The word of a token id, empty when the id is not in the vocabulary.
std::string_view word_of(int32_t id) noexcept;

}  // namespace inference::stub
