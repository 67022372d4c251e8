#include "byte_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "inference/error.hpp"

namespace inference::gguf::detail {
namespace {

// Large enough that metadata of a real model takes a few dozen reads, small enough that reading
// a header never pulls in a meaningful amount of tensor data.
constexpr std::size_t kReadBufferSize = std::size_t{64} << 10;

std::string describe(const std::filesystem::path& path, const std::string& what) { return path.string() + ": " + what; }

}  // namespace

FileSource::FileSource(const std::filesystem::path& path) : path_(path) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever.
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd_ < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENOTDIR) {
      throw Error(errc::model_not_found, describe(path, "no such file"));
    }
    throw Error(errc::invalid_model, describe(path, std::string("cannot open: ") + std::strerror(err)));
  }
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    const int err = errno;
    ::close(fd_);
    throw Error(errc::invalid_model, describe(path, std::string("cannot stat: ") + std::strerror(err)));
  }
  if (S_ISDIR(st.st_mode)) {
    ::close(fd_);
    throw Error(errc::invalid_model, describe(path, "is a directory, not a GGUF file"));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd_);
    throw Error(errc::invalid_model, describe(path, "is not a regular file"));
  }
  size_ = static_cast<uint64_t>(st.st_size);
  buffer_.resize(kReadBufferSize);
}

FileSource::~FileSource() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

bool FileSource::refill() {
  buffer_begin_ = 0;
  buffer_end_ = 0;
  for (;;) {
    const ssize_t got = ::read(fd_, buffer_.data(), buffer_.size());
    if (got < 0) {
      if (errno == EINTR) continue;
      throw Error(errc::invalid_model,
                  describe(path_, "read error at byte " + std::to_string(position_) + ": " + std::strerror(errno)));
    }
    buffer_end_ = static_cast<std::size_t>(got);
    bytes_read_ += buffer_end_;
    return got > 0;
  }
}

bool FileSource::read(std::byte* dst, std::size_t n) {
  while (n > 0) {
    if (buffer_begin_ == buffer_end_ && !refill()) {
      return false;
    }
    const std::size_t chunk = std::min(n, buffer_end_ - buffer_begin_);
    std::memcpy(dst, buffer_.data() + buffer_begin_, chunk);
    buffer_begin_ += chunk;
    position_ += chunk;
    dst += chunk;
    n -= chunk;
  }
  return true;
}

bool MemorySource::read(std::byte* dst, std::size_t n) {
  if (n > bytes_.size() - position_) {
    position_ = bytes_.size();
    return false;
  }
  if (n > 0) {
    std::memcpy(dst, bytes_.data() + position_, n);
  }
  position_ += n;
  return true;
}

}  // namespace inference::gguf::detail
