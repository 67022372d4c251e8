#include "inference/llama_server/output_ring.hpp"

#include <algorithm>
#include <utility>

namespace inference::llama_server {
namespace {

std::string_view without_cr(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

}  // namespace

OutputRing::OutputRing(std::size_t capacity, LineSink sink)
    : capacity_(std::max<std::size_t>(capacity, 1)), sink_(std::move(sink)) {
  ring_.resize(capacity_);
}

void OutputRing::append(std::string_view bytes) {
  std::vector<std::string> complete;
  {
    std::lock_guard lock(mutex_);
    total_ += bytes.size();
    // Only the last capacity_ bytes can survive this call.
    const std::string_view kept = bytes.size() > capacity_ ? bytes.substr(bytes.size() - capacity_) : bytes;
    for (const char c : kept) {
      ring_[(head_ + size_) % capacity_] = c;
      if (size_ < capacity_) {
        ++size_;
      } else {
        head_ = (head_ + 1) % capacity_;
      }
    }
    if (sink_) {
      for (const char c : bytes) {
        if (c == '\n') {
          complete.emplace_back(without_cr(pending_line_));
          pending_line_.clear();
        } else {
          pending_line_.push_back(c);
          if (pending_line_.size() >= kMaxSinkLine) {
            complete.push_back(std::exchange(pending_line_, {}));
          }
        }
      }
    }
  }
  for (const auto& line : complete) deliver(line);
}

void OutputRing::deliver(std::string_view line) const noexcept {
  // The sink is the host's logger: whatever it throws must not end the reading of the child's
  // output (the ring and the exit detection depend on it), so the line is dropped instead.
  try {
    sink_(line);
  } catch (...) {
  }
}

void OutputRing::flush_sink() {
  std::string line;
  {
    std::lock_guard lock(mutex_);
    line = std::exchange(pending_line_, {});
  }
  if (sink_ && !line.empty()) deliver(without_cr(line));
}

std::string OutputRing::linear_locked() const {
  std::string out;
  out.reserve(size_);
  for (std::size_t i = 0; i < size_; ++i) out.push_back(ring_[(head_ + i) % capacity_]);
  return out;
}

std::vector<std::string> OutputRing::tail_lines(std::size_t n) const {
  std::string text;
  bool first_line_truncated = false;
  {
    std::lock_guard lock(mutex_);
    text = linear_locked();
    first_line_truncated = total_ > size_;
  }
  std::vector<std::string_view> lines;
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto newline = rest.find('\n');
    if (newline == std::string_view::npos) {
      lines.push_back(without_cr(rest));
      break;
    }
    lines.push_back(without_cr(rest.substr(0, newline)));
    rest.remove_prefix(newline + 1);
  }
  if (first_line_truncated && lines.size() > 1) lines.erase(lines.begin());

  const std::size_t first = lines.size() > n ? lines.size() - n : 0;
  return {lines.begin() + static_cast<std::ptrdiff_t>(first), lines.end()};
}

std::string OutputRing::tail_text(std::size_t n) const {
  std::string joined;
  for (const auto& line : tail_lines(n)) {
    if (!joined.empty()) joined.push_back('\n');
    joined += line;
  }
  return joined;
}

std::size_t OutputRing::size() const {
  std::lock_guard lock(mutex_);
  return size_;
}

std::size_t OutputRing::total_bytes() const {
  std::lock_guard lock(mutex_);
  return total_;
}

}  // namespace inference::llama_server
