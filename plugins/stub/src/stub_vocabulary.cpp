#include "stub_vocabulary.hpp"

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

}  // namespace

uint32_t vocabulary_size() noexcept { return static_cast<uint32_t>(kFirstWordId + kWords.size()); }

uint64_t sequence_seed(std::string_view prompt, uint64_t seed) noexcept {
  uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the prompt
  for (unsigned char c : prompt) h = (h ^ c) * 0x100000001b3ULL;
  return mix(h ^ mix(seed));
}

Token token_at(uint64_t sequence_seed, uint64_t position) {
  const auto index = static_cast<std::size_t>(mix(sequence_seed + position) % kWords.size());
  Token token;
  token.id = kFirstWordId + static_cast<int32_t>(index);
  token.text.reserve(kWords[index].size() + 1);
  token.text.push_back(' ');
  token.text.append(kWords[index]);
  return token;
}

std::string_view word_of(int32_t id) noexcept {
  if (id < kFirstWordId || id >= static_cast<int32_t>(vocabulary_size())) return {};
  return kWords[static_cast<std::size_t>(id - kFirstWordId)];
}

}  // namespace inference::stub
