#include "inference/llama_server/memory_fit.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "inference/error.hpp"
#include "support/scratch_directory.hpp"

namespace inference::llama_server {
namespace {

// Llama-3.1-8B Q4_K_M: 32 layers, 4096 wide, 32 heads, 8 KV heads.
ModelInfo llama_8b() {
  ModelInfo model;
  model.path = "llama-8b.gguf";
  model.block_count = 32;
  model.embedding_length = 4096;
  model.head_count = 32;
  model.head_count_kv = 8;
  model.context_length = 131072;
  model.tensor_bytes = 4692 * kMiB;
  return model;
}

TEST(MemoryFit, KvCacheFollowsTheGqaFormula) {
  // 2 × 32 layers × 8192 tokens × (4096 × 8 / 32) × 2 bytes = 1 GiB.
  EXPECT_EQ(kv_cache_bytes(llama_8b(), 8192), 1024 * kMiB);
  ModelInfo shapeless;
  EXPECT_EQ(kv_cache_bytes(shapeless, 8192), 0u);
}

TEST(MemoryFit, TotalContextIsPerSlotTimesSlotsOrTheTrainingContext) {
  EXPECT_EQ(total_context(llama_8b(), 2048, 4), 8192u);
  EXPECT_EQ(total_context(llama_8b(), 0, 4), 131072u);
}

TEST(MemoryFit, FullOffloadAddsWeightsKvAndHeadroom) {
  const FitEstimate estimate = estimate_fit(llama_8b(), 8192, -1, 16368 * kMiB);
  EXPECT_EQ(estimate.required_bytes, 4692 * kMiB + 1024 * kMiB + kFitHeadroomBytes);
  EXPECT_EQ(estimate.layers, 32u);
  EXPECT_TRUE(estimate.fits());
  EXPECT_FALSE(estimate_fit(llama_8b(), 8192, -1, 6000 * kMiB).fits());
}

TEST(MemoryFit, ShortfallMessageNamesTheNumbersInMib) {
  const FitEstimate estimate = estimate_fit(llama_8b(), 8192, -1, 6000 * kMiB);
  const std::string message = describe_shortfall(llama_8b(), estimate, "GPU 0 (gfx1100)");
  EXPECT_EQ(message,
            "llama-8b.gguf needs 6484 MiB for all 32 layers (weights 4692 MiB + KV cache 1024 MiB for 8192 "
            "tokens + headroom 768 MiB) but GPU 0 (gfx1100) has 6000 MiB free");
}

TEST(MemoryFit, LayersThatFitAgreeWithTheEstimate) {
  const ModelInfo model = llama_8b();
  const std::uint64_t free = 3000 * kMiB;
  const std::int32_t layers = layers_that_fit(model, 8192, free);
  EXPECT_GT(layers, 0);
  EXPECT_LT(layers, 32);
  EXPECT_TRUE(estimate_fit(model, 8192, layers, free).fits());
  EXPECT_FALSE(estimate_fit(model, 8192, layers + 1, free).fits());
  EXPECT_EQ(layers_that_fit(model, 8192, 100 * kMiB), 0);
  EXPECT_EQ(layers_that_fit(model, 8192, 16 * 1024 * kMiB), 32);
}

}  // namespace
}  // namespace inference::llama_server

namespace inference::llama_server {
namespace {

// The seed's scenario (issue 16): a Llama-3.1-8B-shaped Q4_K model with a 32000-token vocabulary.
// Tensor bytes: 32 layers × 218103808 weights (q, k, v, o, gate, up, down) as Q4_K (144 bytes per
// 256) = 3925868544, plus token_embd and output (4096 × 32000 each, Q4_K) = 147456000, plus the
// f32 norms (32 × 2 × 4096 + 4096 floats) = 1064960: 4074389504 bytes, 3885 MiB.
constexpr std::uint64_t kSeedTensorBytes = 4074389504;
// The field report's RX 7800 XT: 16368 MiB of VRAM, 295 MiB in use.
constexpr std::uint64_t kRx7800XtFree = (16368 - 295) * kMiB;
constexpr std::uint32_t kSeedSlots = 4;

ModelInfo seed_8b() {
  ModelInfo model;
  model.path = "llama-3.1-8b-q4_k.gguf";
  model.block_count = 32;
  model.embedding_length = 4096;
  model.head_count = 32;
  model.head_count_kv = 8;
  model.context_length = 131072;
  model.tensor_bytes = kSeedTensorBytes;
  return model;
}

// The KV cache of one token on every layer: 2 × 32 × 1024 × 2 bytes.
constexpr std::uint64_t kSeedKvBytesPerToken = 131072;

std::uint64_t required_mib(std::uint32_t per_slot) {
  return to_mib(estimate_fit(seed_8b(), std::uint64_t{per_slot} * kSeedSlots, -1, kRx7800XtFree).required_bytes);
}

TEST(MemoryFit, SeedScenarioNeedsTheNumbersOfTheIssue) {
  const FitEstimate whole = estimate_fit(seed_8b(), total_context(seed_8b(), 0, kSeedSlots), -1, kRx7800XtFree);
  EXPECT_FALSE(whole.fits());
  EXPECT_NE(describe_shortfall(seed_8b(), whole, "GPU 0 (gfx1100)")
                .find("needs 21037 MiB for all 32 layers (weights 3885 MiB + KV cache 16384 MiB for 131072 tokens + "
                      "headroom 768 MiB)"),
            std::string::npos);
  EXPECT_EQ(required_mib(4096), 6701u);
  EXPECT_EQ(required_mib(8192), 8749u);
}

TEST(MemoryFit, ChosenContextIsTheLargestStepThatFitsTheSeedCard) {
  // What is left for the KV cache after the weights and the headroom, shared by 4 slots, in whole
  // 256-token steps: (16073 MiB - 4074389504 - 768 MiB) / (131072 × 4) = 22838.7 -> 22784.
  const std::uint64_t kv_room = kRx7800XtFree - kSeedTensorBytes - kFitHeadroomBytes;
  const std::uint64_t expected =
      kv_room / (kSeedKvBytesPerToken * kSeedSlots) / kChosenContextStep * kChosenContextStep;
  ASSERT_EQ(expected, 22784u);
  const ContextChoice choice = choose_context(seed_8b(), kSeedSlots, -1, kRx7800XtFree, "GPU 0 (gfx1100)");
  EXPECT_EQ(choice.context_per_slot, expected);
  EXPECT_TRUE(choice.fit.fits());
  EXPECT_EQ(choice.fit.total_context, expected * kSeedSlots);
  EXPECT_FALSE(estimate_fit(seed_8b(), (expected + kChosenContextStep) * kSeedSlots, -1, kRx7800XtFree).fits());
  EXPECT_EQ(choice.reason, "22784 tokens per slot (4 slots): the most that fits GPU 0 (gfx1100) (" +
                               std::to_string(to_mib(choice.fit.required_bytes)) +
                               " MiB needed of 16073 MiB free); the model was trained for 131072");
}

TEST(MemoryFit, ChosenContextIsAMultipleOfTheStepBelowAnOddTrainingContext) {
  ModelInfo model = seed_8b();
  model.context_length = 100000;  // does not fit, and is no multiple of 256
  const ContextChoice choice = choose_context(model, 1, -1, 8 * 1024 * kMiB, "GPU 0");
  EXPECT_EQ(choice.context_per_slot % kChosenContextStep, 0u);
  EXPECT_TRUE(estimate_fit(model, choice.context_per_slot, -1, 8 * 1024 * kMiB).fits());
  EXPECT_FALSE(estimate_fit(model, choice.context_per_slot + kChosenContextStep, -1, 8 * 1024 * kMiB).fits());
}

TEST(MemoryFit, WholeTrainingContextIsChosenWhenItFits) {
  const ContextChoice choice = choose_context(seed_8b(), 1, -1, 64ull * 1024 * kMiB, "GPU 0");
  EXPECT_EQ(choice.context_per_slot, 131072u);
  EXPECT_NE(choice.reason.find("the model's whole training context fits GPU 0"), std::string::npos) << choice.reason;
  // Not rounded to the step: the training context itself is what the model was made for.
  ModelInfo odd = seed_8b();
  odd.context_length = 1000;
  EXPECT_EQ(choose_context(odd, 2, -1, 64ull * 1024 * kMiB, "GPU 0").context_per_slot, 1000u);
}

TEST(MemoryFit, ExactlyTheFloorIsChosenWhenOnlyTheFloorFits) {
  const std::uint64_t at_floor =
      estimate_fit(seed_8b(), std::uint64_t{kMinChosenContextPerSlot} * kSeedSlots, -1, 0).required_bytes;
  const ContextChoice choice = choose_context(seed_8b(), kSeedSlots, -1, at_floor, "GPU 0");
  EXPECT_EQ(choice.context_per_slot, kMinChosenContextPerSlot);
}

TEST(MemoryFit, BelowTheFloorIsRefusedWithTheNumbersAtTheFloor) {
  const std::uint64_t at_floor =
      estimate_fit(seed_8b(), std::uint64_t{kMinChosenContextPerSlot} * kSeedSlots, -1, 0).required_bytes;
  try {
    choose_context(seed_8b(), kSeedSlots, -1, at_floor - 1, "GPU 0 (gfx1100)");
    FAIL() << "a context below the floor was chosen";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument));
    const std::string message = e.what();
    // 3885 MiB weights + 1024 MiB KV cache for 2048 × 4 tokens + 768 MiB.
    EXPECT_NE(message.find("needs 5677 MiB for all 32 layers (weights 3885 MiB + KV cache 1024 MiB for 8192 tokens"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("GPU 0 (gfx1100) has 5677 MiB free"), std::string::npos) << message;
    EXPECT_NE(message.find("2048 tokens per slot"), std::string::npos) << message;
    EXPECT_NE(message.find("context_len"), std::string::npos) << message;
  }
}

TEST(MemoryFit, ModelTrainedBelowTheFloorGetsItsTrainingContextOrIsRefusedAtIt) {
  ModelInfo small = seed_8b();
  small.context_length = 1024;
  const std::uint64_t needed = estimate_fit(small, 1024 * 2, -1, 0).required_bytes;
  const ContextChoice choice = choose_context(small, 2, -1, needed, "GPU 0");
  EXPECT_EQ(choice.context_per_slot, 1024u);
  try {
    choose_context(small, 2, -1, needed - 1, "GPU 0");
    FAIL() << "a context below the training context was chosen";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument));
    EXPECT_NE(std::string(e.what()).find("1024 tokens per slot × 2 slots"), std::string::npos) << e.what();
  }
}

TEST(MemoryFit, PartialOffloadChoosesAgainstTheOffloadedShare) {
  // 16 of 32 layers: half the weights and half the KV cache count, so a longer context fits.
  const ContextChoice all = choose_context(seed_8b(), kSeedSlots, -1, kRx7800XtFree, "GPU 0");
  const ContextChoice half = choose_context(seed_8b(), kSeedSlots, 16, kRx7800XtFree, "GPU 0");
  EXPECT_GT(half.context_per_slot, all.context_per_slot);
  EXPECT_EQ(half.fit.layers, 16u);
  EXPECT_TRUE(half.fit.fits());
}

TEST(MemoryFit, ModelWithoutTrainingContextOrShapeIsRefused) {
  ModelInfo shapeless;
  shapeless.path = "odd.gguf";
  try {
    choose_context(shapeless, 1, -1, 64ull * 1024 * kMiB, "GPU 0");
    FAIL() << "a context was chosen for a model without a training context";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::invalid_argument));
    EXPECT_NE(std::string(e.what()).find("odd.gguf"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("context_len"), std::string::npos) << e.what();
  }
}

// /proc/meminfo as the kernel writes it, cut short.
constexpr std::string_view kMeminfo =
    "MemTotal:       24683520 kB\n"
    "MemFree:        10795740 kB\n"
    "MemAvailable:   21925488 kB\n"
    "Buffers:          204712 kB\n";

void write_file(const std::filesystem::path& path, std::string_view content) {
  std::ofstream out(path);
  out << content;
}

TEST(HostAvailableMemory, ReadsMemAvailableInBytes) {
  test::ScratchDirectory scratch;
  write_file(scratch / "meminfo", kMeminfo);
  EXPECT_EQ(host_available_memory(scratch / "meminfo"), 21925488ull * 1024);
}

TEST(HostAvailableMemory, MissingFileIsUnavailableNamingIt) {
  test::ScratchDirectory scratch;
  try {
    host_available_memory(scratch / "absent");
    FAIL() << "a missing file was read";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::backend_unavailable));
    EXPECT_NE(std::string(e.what()).find((scratch / "absent").string()), std::string::npos) << e.what();
  }
}

TEST(HostAvailableMemory, FileWithoutMemAvailableIsUnavailableNamingIt) {
  test::ScratchDirectory scratch;
  write_file(scratch / "meminfo", "MemTotal:       24683520 kB\nMemFree:        10795740 kB\n");
  try {
    host_available_memory(scratch / "meminfo");
    FAIL() << "a file without MemAvailable was read";
  } catch (const Error& e) {
    EXPECT_TRUE(e.is(errc::backend_unavailable));
    EXPECT_NE(std::string(e.what()).find("MemAvailable"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find((scratch / "meminfo").string()), std::string::npos) << e.what();
  }
}

TEST(HostAvailableMemory, UnreadableValueIsUnavailable) {
  test::ScratchDirectory scratch;
  write_file(scratch / "meminfo", "MemAvailable:   lots kB\n");
  EXPECT_THROW(host_available_memory(scratch / "meminfo"), Error);
}

TEST(HostAvailableMemory, TheRealFileHasSomeMemory) { EXPECT_GT(host_available_memory(), 0u); }

}  // namespace
}  // namespace inference::llama_server
