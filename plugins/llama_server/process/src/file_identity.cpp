#include "file_identity.hpp"

#include <sys/stat.h>

namespace inference::llama_server::detail {

std::optional<FileIdentity> identify(const std::filesystem::path& binary) {
  std::error_code ec;
  auto resolved = std::filesystem::canonical(binary, ec);
  if (ec) return std::nullopt;
  struct stat info {};
  if (::stat(resolved.c_str(), &info) != 0) return std::nullopt;
  return FileIdentity{resolved.string(), info.st_dev, info.st_ino, info.st_size,
                      static_cast<std::int64_t>(info.st_mtim.tv_sec) * 1'000'000'000 + info.st_mtim.tv_nsec};
}

}  // namespace inference::llama_server::detail
