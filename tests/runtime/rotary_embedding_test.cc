#include "runtime/ops/rotary_embedding.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

namespace shardlm {
namespace {

TEST(RotaryEmbeddingTest, DefaultFrequenciesFollowTheta) {
  RopeConfig config;
  config.theta = 10000.0;
  const auto inv_freq = rope_inverse_frequencies(config, 4);
  ASSERT_EQ(inv_freq.size(), 2u);
  EXPECT_FLOAT_EQ(inv_freq[0], 1.0f);
  EXPECT_FLOAT_EQ(inv_freq[1], 0.01f);  // 10000^(-2/4)
}

TEST(RotaryEmbeddingTest, LinearScalingDividesEveryFrequency) {
  RopeConfig config;
  config.type = RopeConfig::Type::Linear;
  config.theta = 10000.0;
  config.factor = 4.0;
  const auto inv_freq = rope_inverse_frequencies(config, 4);
  EXPECT_FLOAT_EQ(inv_freq[0], 0.25f);
  EXPECT_FLOAT_EQ(inv_freq[1], 0.0025f);
}

TEST(RotaryEmbeddingTest, Llama3KeepsShortScalesLongAndInterpolatesBetween) {
  // theta 100, head_dim 8: wavelengths 6.28, 19.9, 62.8 and 199 against the band [32/4, 32/1].
  RopeConfig config;
  config.type = RopeConfig::Type::Llama3;
  config.theta = 100.0;
  config.factor = 8.0;
  config.low_freq_factor = 1.0;
  config.high_freq_factor = 4.0;
  config.original_max_positions = 32;
  const auto inv_freq = rope_inverse_frequencies(config, 8);
  ASSERT_EQ(inv_freq.size(), 4u);
  EXPECT_FLOAT_EQ(inv_freq[0], 1.0f);                  // below the band: unchanged
  EXPECT_FLOAT_EQ(inv_freq[1], 0.09583998588296266f);  // inside: smooth factor 0.2035
  EXPECT_FLOAT_EQ(inv_freq[2], 0.0125f);               // above: 0.1 / 8
  EXPECT_FLOAT_EQ(inv_freq[3], 0.003952847075210474f);
}

TEST(RotaryEmbeddingTest, RotatesPairsHalfAHeadApart) {
  RopeConfig config;
  config.theta = 10000.0;
  const RotaryEmbedding rope(config, 4);
  // Pairs are (0, 2) at frequency 1 and (1, 3) at frequency 0.01.
  float head[4] = {1.0f, 1.0f, 0.0f, 0.0f};
  rope.apply(head, 1, 3);
  EXPECT_NEAR(head[0], std::cos(3.0), 1e-6);
  EXPECT_NEAR(head[2], std::sin(3.0), 1e-6);
  EXPECT_NEAR(head[1], std::cos(0.03), 1e-6);
  EXPECT_NEAR(head[3], std::sin(0.03), 1e-6);
}

TEST(RotaryEmbeddingTest, PositionZeroIsIdentityForEveryHead) {
  RopeConfig config;
  const RotaryEmbedding rope(config, 8);
  float heads[16];
  for (int i = 0; i < 16; ++i) heads[i] = static_cast<float>(i) - 7.5f;
  float rotated[16];
  std::copy(heads, heads + 16, rotated);
  rope.apply(rotated, 2, 0);
  for (int i = 0; i < 16; ++i) EXPECT_FLOAT_EQ(rotated[i], heads[i]);
}

}  // namespace
}  // namespace shardlm
