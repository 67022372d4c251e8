// The stub's deterministic "model": a fixed word list and a token sequence that depends only on
// the prompt, the seed and the position, so tests can predict every token. Its tokenizer splits
// text at whitespace: a word of the list is its token (text " " + word), any other word is
// kUnknownId; kBosId is what tokenize() adds with add_special.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "inference/types.hpp"

namespace inference::stub {

inline constexpr int32_t kFirstWordId = 100;  // ids below are reserved, like real vocabularies' specials
inline constexpr int32_t kUnknownId = 0;      // a word not in the list; its text is " <unk>"
inline constexpr int32_t kBosId = 1;          // beginning of sequence; no text

uint32_t vocabulary_size() noexcept;

// The seed for a request: a hash of the prompt mixed with the configured seed.
uint64_t sequence_seed(std::string_view prompt, uint64_t seed) noexcept;

// The token at `position` of the sequence. Its text is " " + word.
Token token_at(uint64_t sequence_seed, uint64_t position);

// The word of a token id, empty when the id is not in the vocabulary.
std::string_view word_of(int32_t id) noexcept;

// The token at `position`, or when GenerateConfig::logit_bias forbids it (a bias of -infinity),
// the next word of the list that is not forbidden. Precondition: not every word is forbidden.
Token allowed_token_at(uint64_t sequence_seed, uint64_t position, std::span<const int32_t> forbidden);

// The stub tokenizer (see above). Each token's text is its piece: " " + word, " <unk>", "" (BOS).
std::vector<Token> tokenize_words(std::string_view text, bool add_special);

// The text of ids: the words, separated by single spaces; kUnknownId as "<unk>"; BOS and the
// other reserved ids as nothing. So detokenize_words(tokenize_words(t)) == t for words of the
// list separated by single spaces. Precondition: every id is below vocabulary_size() and >= 0.
std::string detokenize_words(std::span<const int32_t> ids);

// How many tokens the stub counts in a prompt: its whitespace-separated words.
uint64_t count_words(std::string_view text) noexcept;

}  // namespace inference::stub
