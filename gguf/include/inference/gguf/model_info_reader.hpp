// Turns GGUF metadata into inference::ModelInfo: what a model file is, read before any server
// is started. Handles split models (name-00001-of-00003.gguf): every shard must exist and parse.
// Thread-safety: free functions without shared state; safe to call concurrently.
#pragma once

#include <filesystem>

#include "inference/gguf/gguf_file.hpp"
#include "inference/gguf/reader_limits.hpp"
#include "inference/model_info.hpp"

namespace inference::gguf {

// Reads path (any shard of a split model) and summarises it. Throws inference::Error:
// errc::model_not_found when path does not exist, errc::invalid_model for anything else wrong,
// including a missing or inconsistent shard and a file without general.architecture.
inference::ModelInfo read_model_info(const std::filesystem::path& path, const ReaderLimits& limits = {});

// Summarises one already parsed file (no shard handling). Architecture-prefixed keys are looked
// up after the whole file is parsed, so key order does not matter. Throws Error(invalid_model)
// when a known key has the wrong type.
inference::ModelInfo model_info_from(const GgufFile& file);

}  // namespace inference::gguf
