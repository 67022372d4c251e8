// Lists the GGUF models in a directory: one entry per model (split models appear once, under
// their first shard), sorted by path. Files that cannot be read as a model are listed with the
// reason instead of being skipped silently. Thread-safety: no shared state.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "inference/gguf/reader_limits.hpp"
#include "inference/model_info.hpp"

namespace inference::gguf {

struct DiscoveredModel {
  std::filesystem::path path;
  std::optional<inference::ModelInfo> info;  // set when the model was read successfully
  std::error_code error;                     // set otherwise (errc::invalid_model, ...)
  std::string reason;                        // the error's full message

  bool ok() const noexcept { return info.has_value(); }
};

// Scans dir for files ending in ".gguf" (case-insensitive); with recursive, descends into
// subdirectories (symbolic links to directories are not followed). Throws
// Error(errc::model_not_found) when dir does not exist or is not a directory; a subdirectory
// that cannot be listed becomes an entry with its reason.
std::vector<DiscoveredModel> discover_models(const std::filesystem::path& dir, bool recursive,
                                             const ReaderLimits& limits = {});

}  // namespace inference::gguf
