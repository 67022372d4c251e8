// Reads the header, metadata and tensor directory of a GGUF file (versions 2 and 3,
// little-endian) without touching tensor data. Every fault is reported as an Error with code
// errc::invalid_model naming the file, the byte offset and what was being read; a missing file
// is errc::model_not_found. Reads are buffered and bounded; every count is checked against the
// limits and the bytes remaining in the file before anything is allocated.
// Thread-safety: free functions without shared state; safe to call concurrently.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>

#include "inference/gguf/gguf_file.hpp"
#include "inference/gguf/reader_limits.hpp"

namespace inference::gguf {

// Parses the file at path. Throws inference::Error.
GgufFile read_gguf(const std::filesystem::path& path, const ReaderLimits& limits = {});

// Parses an in-memory image of a file (for fuzzing and tests); name is used in error messages.
GgufFile parse_gguf(std::span<const std::byte> bytes, const std::filesystem::path& name,
                    const ReaderLimits& limits = {});

}  // namespace inference::gguf
