// The pre-flight memory check shared by every backend built on the engine: does a model
// (weights from the GGUF tensor sizes, plus the KV cache for every slot's context) fit in a
// device's free memory (a GPU's VRAM, or the host's available RAM for a CPU build), and if not,
// how many layers or how long a context would. An estimate, deliberately on the generous side:
// refusing at load with the numbers beats llama-server failing an allocation halfway through
// loading, or a CPU build allocating gigabytes until the OOM killer ends it.
//
// Ownership: plain values. Thread-safety: pure functions (host_available_memory() reads one
// small file); safe from any thread. Cancellation: nothing here waits.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "inference/model_info.hpp"

namespace inference::llama_server {

inline constexpr std::uint64_t kMiB = 1024 * 1024;

// K and V are stored as f16 by default (llama-server's --cache-type-k/v f16).
inline constexpr std::uint64_t kKvBytesPerElement = 2;
// Room for what the estimate leaves out: the GPU runtime's context, llama.cpp's compute
// buffers (a few hundred MiB for a 4k batch) and allocator fragmentation.
inline constexpr std::uint64_t kFitHeadroomBytes = 768ull << 20;
// When the caller sets no context_len, the context chosen to fit the device is never below
// this many tokens per slot: a smaller one would fit a chat turn or two, which surprises more
// than a refusal that names the numbers.
inline constexpr std::uint32_t kMinChosenContextPerSlot = 2048;
// A chosen context is a multiple of this many tokens (llama-server pads its KV cache to 256).
inline constexpr std::uint32_t kChosenContextStep = 256;

// Bytes as whole MiB, for messages.
constexpr std::uint64_t to_mib(std::uint64_t bytes) noexcept { return bytes / kMiB; }

struct FitEstimate {
  std::uint64_t weight_bytes = 0;  // tensor bytes of the offloaded part
  std::uint64_t kv_bytes = 0;      // KV cache of the offloaded layers
  std::uint64_t headroom_bytes = 0;
  std::uint64_t required_bytes = 0;  // the sum of the three
  std::uint64_t free_bytes = 0;
  std::uint64_t total_context = 0;  // tokens, over all slots
  std::uint64_t layers = 0;         // layers estimated on the device
  bool fits() const noexcept { return required_bytes <= free_bytes; }
};

// KV cache bytes for `total_context` tokens on all of the model's layers:
// 2 (K and V) × block_count × total_context × (embedding_length × head_count_kv / head_count)
// × kKvBytesPerElement. 0 when the model does not state its shape.
std::uint64_t kv_cache_bytes(const ModelInfo& model, std::uint64_t total_context) noexcept;

// The tokens llama-server will allocate: context_per_slot × slots, or the model's training
// context when context_per_slot is 0 (the engine then passes -c 0).
std::uint64_t total_context(const ModelInfo& model, std::uint32_t context_per_slot, std::uint32_t slots) noexcept;

// The estimate for `gpu_layers` layers on the device (negative or >= block_count: all of them;
// a part is weighted proportionally).
FitEstimate estimate_fit(const ModelInfo& model, std::uint64_t total_context, std::int32_t gpu_layers,
                         std::uint64_t free_bytes) noexcept;

// The most layers whose estimate fits in free_bytes (0 when none does).
std::int32_t layers_that_fit(const ModelInfo& model, std::uint64_t total_context, std::uint64_t free_bytes) noexcept;

// "model.gguf needs 9012 MiB (weights 7800 MiB + KV cache 444 MiB for 8192 tokens + headroom
// 768 MiB) but GPU 0 has 6000 MiB free"
std::string describe_shortfall(const ModelInfo& model, const FitEstimate& estimate, const std::string& device);

// The context a load without context_len gets: the largest per-slot context, a multiple of
// kChosenContextStep and at most the model's training context, whose estimate with `gpu_layers`
// (as estimate_fit) over `slots` slots fits in free_bytes.
struct ContextChoice {
  std::uint32_t context_per_slot = 0;
  FitEstimate fit;     // the estimate for the chosen context
  std::string reason;  // one line: "8192 tokens per slot (4 slots): the most that fits GPU 0
                       // (gfx1101, 16368 MiB free); the model was trained for 131072"
};

// Throws Error(invalid_argument) when not even kMinChosenContextPerSlot fits (the message is
// describe_shortfall() at that floor, naming `device`), or when the model does not state its
// training context and shape (nothing to choose from: the caller should set context_len).
// A model whose training context is below the floor gets its training context when that fits.
ContextChoice choose_context(const ModelInfo& model, std::uint32_t slots, std::int32_t gpu_layers,
                             std::uint64_t free_bytes, const std::string& device);

// The host's available memory (MemAvailable of /proc/meminfo, in bytes): what a CPU build may
// allocate without pushing the machine into swap or the OOM killer. Throws
// Error(backend_unavailable) naming the file when it cannot be read or has no MemAvailable line.
inline constexpr std::string_view kDefaultMeminfoPath = "/proc/meminfo";
std::uint64_t host_available_memory(const std::filesystem::path& meminfo = std::filesystem::path(kDefaultMeminfoPath));

}  // namespace inference::llama_server
