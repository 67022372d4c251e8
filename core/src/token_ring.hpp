// A FIFO of tokens backed by one vector that grows by doubling up to the stream's buffer
// limit. Unlike std::deque it allocates nothing until the first token and nothing per token
// once warm, which keeps idle queued streams small and the per-token path allocation-free.
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include "inference/types.hpp"

namespace inference::detail {

class TokenRing {
 public:
  static constexpr std::size_t kInitialCapacity = 16;

  bool empty() const noexcept { return size_ == 0; }
  std::size_t size() const noexcept { return size_; }

  void push(Token&& token) {
    if (size_ == slots_.size()) grow();
    slots_[(head_ + size_) & (slots_.size() - 1)] = std::move(token);
    ++size_;
  }

  // Moves the oldest token into `out` (no temporary: this is the per-token path).
  template <class Out>
  void pop_into(Out& out) noexcept {
    out = std::move(slots_[head_]);
    head_ = (head_ + 1) & (slots_.size() - 1);
    --size_;
  }

  void clear() noexcept {
    slots_.clear();
    slots_.shrink_to_fit();
    head_ = size_ = 0;
  }

 private:
  void grow() {
    // Capacity stays a power of two so that wrapping is a mask.
    std::vector<Token> bigger(slots_.empty() ? kInitialCapacity : slots_.size() * 2);
    for (std::size_t i = 0; i < size_; ++i) bigger[i] = std::move(slots_[(head_ + i) & (slots_.size() - 1)]);
    slots_ = std::move(bigger);
    head_ = 0;
  }

  std::vector<Token> slots_;
  std::size_t head_ = 0;
  std::size_t size_ = 0;
};

}  // namespace inference::detail
