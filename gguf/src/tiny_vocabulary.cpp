#include "tiny_vocabulary.hpp"

#include <fmt/format.h>

#include <array>
#include <string_view>
#include <unordered_set>

namespace inference::gguf::detail {
namespace {

// SentencePiece marks a word boundary with U+2581 LOWER ONE EIGHTH BLOCK.
constexpr std::string_view kWordBoundary = "\xE2\x96\x81";
constexpr int kByteTokenCount = 256;

// Frequent English words; every prefix of "▁word" becomes a piece so the SentencePiece merge
// algorithm can build whole words out of single characters.
constexpr std::array<std::string_view, 48> kWords{
    "the",   "of",   "and", "to",    "a",     "in",    "is",    "it",    "you",   "that", "he",    "was",
    "for",   "on",   "are", "with",  "as",    "I",     "his",   "they",  "be",    "at",   "one",   "have",
    "this",  "from", "or",  "had",   "by",    "word",  "but",   "what",  "some",  "we",   "can",   "out",
    "other", "were", "all", "there", "hello", "world", "Hello", "model", "token", "tiny", "story", "once"};

constexpr std::array<std::string_view, 8> kSuffixes{"ing", "ed", "er", "ly", "es", "s", "tion", "ment"};

class Builder {
 public:
  void add(std::string text, float score, TokenType type) {
    if (!seen_.insert(text).second) return;
    vocab_.tokens.push_back(std::move(text));
    vocab_.scores.push_back(score);
    vocab_.types.push_back(type);
  }

  // Pieces get decreasing scores in insertion order: shorter, earlier pieces merge first.
  void piece(std::string text) { add(std::move(text), -static_cast<float>(next_piece_++), TokenType::normal); }

  uint32_t size() const { return static_cast<uint32_t>(vocab_.tokens.size()); }
  TinyVocabulary take() { return std::move(vocab_); }

 private:
  TinyVocabulary vocab_;
  std::unordered_set<std::string> seen_;
  int next_piece_ = 0;
};

}  // namespace

TinyVocabulary make_tiny_vocabulary() {
  Builder b;
  b.add("<unk>", 0.0F, TokenType::unknown);
  b.add("<s>", 0.0F, TokenType::control);
  b.add("</s>", 0.0F, TokenType::control);
  for (int byte = 0; byte < kByteTokenCount; ++byte) {
    b.add(fmt::format("<0x{:02X}>", byte), 0.0F, TokenType::byte);
  }
  b.piece(std::string(kWordBoundary));
  for (char c = 'a'; c <= 'z'; ++c) b.piece(std::string(1, c));
  for (char c = 'A'; c <= 'Z'; ++c) b.piece(std::string(1, c));
  for (char c = '0'; c <= '9'; ++c) b.piece(std::string(1, c));
  for (char c : std::string_view(".,!?;:'\"-()")) b.piece(std::string(1, c));
  for (auto word : kWords) {
    std::string piece(kWordBoundary);
    for (char c : word) {
      piece += c;
      b.piece(piece);
    }
  }
  for (auto suffix : kSuffixes) {
    std::string piece;
    for (char c : suffix) {
      piece += c;
      b.piece(piece);
    }
  }
  // ChatML markers, so the bundled chat template renders to single tokens.
  b.add("<|im_start|>", 0.0F, TokenType::control);
  b.add("<|im_end|>", 0.0F, TokenType::control);

  auto vocab = b.take();
  vocab.unknown_id = 0;
  vocab.bos_id = 1;
  vocab.eos_id = 2;
  return vocab;
}

}  // namespace inference::gguf::detail
