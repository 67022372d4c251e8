#include "inference/llama_server/memory_fit.hpp"

#include <gtest/gtest.h>

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
