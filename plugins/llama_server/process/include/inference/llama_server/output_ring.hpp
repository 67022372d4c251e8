// OutputRing: the last bytes a child process printed (stdout and stderr interleaved), kept in a
// bounded ring so errors can quote the child's last words, plus an optional sink that sees every
// complete line as it arrives (for forwarding to a log).
//
// Ownership: owns its storage; the sink is copied in and called by the thread that append()s.
// Thread-safety: every member function may be called from any thread concurrently. The sink is
// called outside the internal lock, in arrival order, by the appending thread (one writer).
// Cancellation: nothing here blocks or waits.
#pragma once

#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace inference::llama_server {

class OutputRing {
 public:
  // Enough for the last few hundred log lines of llama-server, small enough to keep per model.
  static constexpr std::size_t kDefaultCapacity = 64 * 1024;
  // A line longer than this is handed to the sink in pieces so a child that never prints a
  // newline cannot make the pending-line buffer grow without bound.
  static constexpr std::size_t kMaxSinkLine = 16 * 1024;

  using LineSink = std::function<void(std::string_view line)>;

  explicit OutputRing(std::size_t capacity = kDefaultCapacity, LineSink sink = {});

  OutputRing(const OutputRing&) = delete;
  OutputRing& operator=(const OutputRing&) = delete;

  // Appends raw output. Keeps at most capacity() bytes (the oldest bytes are dropped) and hands
  // every line completed by these bytes to the sink, without its '\n' (and without a '\r'
  // before it).
  void append(std::string_view bytes);

  // Hands a pending incomplete line to the sink (call once the child's output reached EOF).
  void flush_sink();

  // The last `n` lines, oldest first. A final line without '\n' is included; a first line whose
  // beginning was already dropped from the ring is left out (it would be misleading).
  std::vector<std::string> tail_lines(std::size_t n) const;

  // tail_lines(n) joined with '\n': what error messages quote. Empty when nothing was printed.
  std::string tail_text(std::size_t n) const;

  // Bytes currently held (never more than capacity()) and bytes ever appended.
  std::size_t size() const;
  std::size_t total_bytes() const;
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  // Calls the sink, swallowing what it throws.
  void deliver(std::string_view line) const noexcept;
  // Ring contents, oldest byte first; caller holds mutex_.
  std::string linear_locked() const;

  const std::size_t capacity_;
  const LineSink sink_;

  mutable std::mutex mutex_;
  std::vector<char> ring_;  // capacity_ bytes once full
  std::size_t head_ = 0;    // index of the oldest byte when full
  std::size_t size_ = 0;
  std::size_t total_ = 0;
  std::string pending_line_;  // sink only: bytes after the last '\n'
};

}  // namespace inference::llama_server
