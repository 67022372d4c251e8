// The model of issue 16's "defaults that fit" scenario: a Llama-3.1-8B-shaped Q4_K model (32
// layers, 4096 wide, 32 heads, 8 KV heads, 14336 feed-forward, a 131072-token training context,
// a 32000-token vocabulary) whose tensors are all zeros, written with the project's GGUF writer
// as a sparse file: it has the real size on paper (3885 MiB of tensors) and takes a few KiB of
// disk. Only its metadata and tensor sizes are meant to be read (the memory fit); no server
// should ever load it.
//
// Ownership: plain functions writing files. Thread-safety: safe from any thread for distinct
// paths. Cancellation: not applicable.
#pragma once

#include <cstdint>
#include <filesystem>

namespace inference::test {

// Its tensor bytes: 32 layers × 218103808 weights (q, k, v, o, gate, up, down) as Q4_K (144 bytes
// per 256) = 3925868544, token_embd and output (4096 × 32000 each, Q4_K) = 147456000, the f32
// norms (65 × 4096 floats) = 1064960.
inline constexpr std::uint64_t kSeed8bTensorBytes = 4074389504;
inline constexpr std::uint64_t kSeed8bTrainingContext = 131072;
// Its KV cache per token over all layers: 2 (K and V) × 32 layers × 1024 (4096 × 8 / 32) × 2 bytes.
inline constexpr std::uint64_t kSeed8bKvBytesPerToken = 131072;

// Writes the model to `path` (replacing it). Throws Error(invalid_argument) naming the file when
// writing fails.
void write_seed_8b_model(const std::filesystem::path& path);

}  // namespace inference::test
