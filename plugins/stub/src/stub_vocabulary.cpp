#include "stub_vocabulary.hpp"

#include <algorithm>
#include <array>

namespace inference::stub {

namespace {

constexpr std::array<std::string_view, 64> kWords{
    "the",    "a",      "model", "token",  "stream", "slot",   "queue",  "server", "river", "stone", "light",
    "quiet",  "blue",   "green", "north",  "south",  "rain",   "wind",   "fire",   "cloud", "paper", "glass",
    "iron",   "silver", "gold",  "shadow", "bright", "small",  "large",  "early",  "late",  "open",  "close",
    "under",  "over",   "after", "before", "again",  "still",  "always", "never",  "often", "city",  "field",
    "garden", "house",  "road",  "bridge", "tower",  "market", "song",   "story",  "dream", "voice", "letter",
    "number", "circle", "line",  "point",  "edge",   "and",    "of",     "to",     "in"};

// splitmix64: a tiny, well-distributed mixer; all the stub needs for repeatable sequences.
constexpr uint64_t mix(uint64_t x) noexcept {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

constexpr std::string_view kUnknownPiece = " <unk>";
constexpr std::string_view kSpaces = " \t\n\r\f\v";

Token word_token(std::size_t index) {
  Token token;
  token.id = kFirstWordId + static_cast<int32_t>(index);
  token.text.reserve(kWords[index].size() + 1);
  token.text.push_back(' ');
  token.text.append(kWords[index]);
  return token;
}

std::size_t index_at(uint64_t sequence_seed, uint64_t position) {
  return static_cast<std::size_t>(mix(sequence_seed + position) % kWords.size());
}

}  // namespace

uint32_t vocabulary_size() noexcept { return static_cast<uint32_t>(kFirstWordId + kWords.size()); }

uint64_t sequence_seed(std::string_view prompt, uint64_t seed) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the prompt
  for (unsigned char c : prompt) h = (h ^ c) * 0x100000001b3ULL;
  return mix(h ^ mix(seed));
}

Token token_at(uint64_t sequence_seed, uint64_t position) { return word_token(index_at(sequence_seed, position)); }

Token allowed_token_at(uint64_t sequence_seed, uint64_t position, std::span<const int32_t> forbidden) {
  const auto is_forbidden = [forbidden](std::size_t index) {
    const auto id = kFirstWordId + static_cast<int32_t>(index);
    return std::find(forbidden.begin(), forbidden.end(), id) != forbidden.end();
  };
  std::size_t index = index_at(sequence_seed, position);
  for (std::size_t tried = 0; tried < kWords.size() && is_forbidden(index); ++tried) {
    index = (index + 1) % kWords.size();
  }
  return word_token(index);
}

std::vector<Token> tokenize_words(std::string_view text, bool add_special) {
  std::vector<Token> tokens;
  if (add_special) tokens.push_back(Token{kBosId, "", {}});
  for (std::size_t start = text.find_first_not_of(kSpaces); start != std::string_view::npos;) {
    const std::size_t end = std::min(text.find_first_of(kSpaces, start), text.size());
    const std::string_view word = text.substr(start, end - start);
    const auto known = std::find(kWords.begin(), kWords.end(), word);
    if (known == kWords.end()) {
      tokens.push_back(Token{kUnknownId, std::string(kUnknownPiece), {}});
    } else {
      tokens.push_back(word_token(static_cast<std::size_t>(known - kWords.begin())));
    }
    start = text.find_first_not_of(kSpaces, end);
  }
  return tokens;
}

std::string detokenize_words(std::span<const int32_t> ids) {
  std::string text;
  for (const int32_t id : ids) {
    const std::string_view word = id == kUnknownId ? kUnknownPiece.substr(1) : word_of(id);
    if (word.empty()) continue;  // BOS and the other reserved ids
    if (!text.empty()) text.push_back(' ');
    text.append(word);
  }
  return text;
}

std::string_view word_of(int32_t id) noexcept {
  if (id < kFirstWordId || id >= static_cast<int32_t>(vocabulary_size())) return {};
  return kWords[static_cast<std::size_t>(id - kFirstWordId)];
}

uint64_t count_words(std::string_view text) noexcept {
  uint64_t words = 0;
  bool in_word = false;
  for (const char c : text) {
    const bool space = c == ' ' || c == '\n' || c == '\t';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return words;
}

}  // namespace inference::stub
