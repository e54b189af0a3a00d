// Random weights for benchmarks: every slice is the matching block of the whole model (so any layout
// runs one and the same model), the values have the intended spread, and bad formats are refused.
#include "runtime/model/random_weights.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "runtime/kernels/weight_matrix.h"
#include "runtime/threading/thread_pool.h"

namespace shardlm {
namespace {

ModelConfig tiny_config() {
  ModelConfig config;
  config.architecture = "LlamaForCausalLM";
  config.vocab_size = 1000;
  config.hidden_size = 128;
  config.intermediate_size = 256;
  config.num_layers = 2;
  config.num_heads = 4;
  config.num_kv_heads = 2;
  config.head_dim = 32;
  config.max_position_embeddings = 512;
  config.qkv_bias = true;
  return config;
}

ThreadPool& pool() {
  static ThreadPool instance(3);
  return instance;
}

std::vector<float> row_of(const WeightMatrix& w, std::size_t r) {
  std::vector<float> out(w.cols);
  widen_weight_row(w, r, out.data());
  return out;
}

// Every row of `part` equals the same row of the block of `whole` it should be.
void expect_block(const WeightMatrix& part, const WeightMatrix& whole, std::size_t row, std::size_t col,
                  const char* what) {
  const WeightMatrix block = weight_block(whole, row, part.rows, col, part.cols);
  for (std::size_t r = 0; r < part.rows; ++r) ASSERT_EQ(row_of(part, r), row_of(block, r)) << what << " row " << r;
}

class RandomWeightsTest : public ::testing::TestWithParam<const char*> {};

TEST_P(RandomWeightsTest, ASliceIsTheMatchingBlockOfTheWholeModel) {
  const ModelConfig config = tiny_config();
  const RandomWeightFormat format = parse_weight_format(GetParam());
  const ModelWeights whole = random_model_weights(config, ModelSlice::whole(config), format, 7, pool());
  // The second TP rank of the last of two stages: layer 1, heads 2-3 (KV head 1), FFN 128-255,
  // vocabulary rows 500-999.
  ModelSlice slice;
  slice.layers = {1, 2};
  slice.q_heads = {2, 4};
  slice.kv_heads = {1, 2};
  slice.ffn = {128, 256};
  slice.vocab = {500, 1000};
  slice.has_embedding = false;
  slice.has_head = true;
  const ModelWeights part = random_model_weights(config, slice, format, 7, pool());

  ASSERT_EQ(part.layers.size(), 1u);
  const LayerWeights& p = part.layers[0];
  const LayerWeights& w = whole.layers[1];
  expect_block(p.q.weight, w.q.weight, 64, 0, "q");
  expect_block(p.k.weight, w.k.weight, 32, 0, "k");
  expect_block(p.v.weight, w.v.weight, 32, 0, "v");
  expect_block(p.o.weight, w.o.weight, 0, 64, "o");
  expect_block(p.gate.weight, w.gate.weight, 128, 0, "gate");
  expect_block(p.up.weight, w.up.weight, 128, 0, "up");
  expect_block(p.down.weight, w.down.weight, 0, 128, "down");
  expect_block(part.lm_head, whole.lm_head, 500, 0, "lm_head");
  EXPECT_EQ(part.embedding.data, nullptr);
  EXPECT_EQ(p.q.bias, std::vector<float>(w.q.bias.begin() + 64, w.q.bias.end()));
  EXPECT_EQ(part.final_norm, std::vector<float>(128, 1.0f));
}

TEST_P(RandomWeightsTest, WeightsAreCentredWithVarianceOneOverInputs) {
  const ModelConfig config = tiny_config();
  const RandomWeightFormat format = parse_weight_format(GetParam());
  const ModelWeights weights = random_model_weights(config, ModelSlice::whole(config), format, 1, pool());
  for (const WeightMatrix* m : {&weights.layers[0].gate.weight, &weights.layers[1].down.weight, &weights.lm_head}) {
    double sum = 0, squares = 0;
    for (std::size_t r = 0; r < m->rows; ++r) {
      for (const float value : row_of(*m, r)) {
        sum += value;
        squares += double{value} * value;
      }
    }
    const double n = static_cast<double>(m->rows * m->cols);
    const double mean = sum / n;
    const double variance = squares / n - mean * mean;
    const double target = 1.0 / static_cast<double>(m->cols);
    EXPECT_LT(std::abs(mean), 0.05 * std::sqrt(target)) << GetParam();
    // Uniform weights have variance 1 / inputs; quantized ones a little more (scales vary by ±25%
    // and codes are discrete).
    EXPECT_GT(variance, 0.9 * target) << GetParam();
    EXPECT_LT(variance, 1.25 * target) << GetParam();
  }
}

TEST_P(RandomWeightsTest, TheSeedChoosesTheModel) {
  const ModelConfig config = tiny_config();
  const RandomWeightFormat format = parse_weight_format(GetParam());
  const ModelWeights a = random_model_weights(config, ModelSlice::whole(config), format, 1, pool());
  const ModelWeights b = random_model_weights(config, ModelSlice::whole(config), format, 1, pool());
  const ModelWeights c = random_model_weights(config, ModelSlice::whole(config), format, 2, pool());
  EXPECT_EQ(row_of(a.layers[0].up.weight, 5), row_of(b.layers[0].up.weight, 5));
  EXPECT_NE(row_of(a.layers[0].up.weight, 5), row_of(c.layers[0].up.weight, 5));
}

INSTANTIATE_TEST_SUITE_P(Formats, RandomWeightsTest, ::testing::Values("f32", "bf16", "q8", "q4"));

TEST(RandomWeightFormatTest, MatrixBytesFollowTheStoredLayout) {
  // Dense: elements x dtype size. MLX affine: bits / 8 bytes a weight plus a bf16 scale and bias
  // per group of 64.
  EXPECT_EQ(parse_weight_format("f32").matrix_bytes(3, 128), 3u * 128 * 4);
  EXPECT_EQ(parse_weight_format("bf16").matrix_bytes(3, 128), 3u * 128 * 2);
  EXPECT_EQ(parse_weight_format("q8").matrix_bytes(3, 128), 3u * (128 + 2 * 2 * 2));
  EXPECT_EQ(parse_weight_format("q4").matrix_bytes(3, 128), 3u * (64 + 2 * 2 * 2));
}

TEST(RandomWeightFormatTest, RefusesUnknownFormatsAndShapesThatAreNotWholeGroups) {
  EXPECT_THROW(parse_weight_format("q3"), std::invalid_argument);
  EXPECT_THROW(parse_weight_format("BF16"), std::invalid_argument);
  ModelConfig config = tiny_config();
  config.intermediate_size = 160;
  EXPECT_THROW(check_random_weight_format(config, parse_weight_format("q4")), std::invalid_argument);
  EXPECT_NO_THROW(check_random_weight_format(config, parse_weight_format("bf16")));
  // A tensor-parallel cut through a group of down_proj's inputs.
  config = tiny_config();
  ModelSlice slice = ModelSlice::whole(config);
  slice.ffn = {0, 96};
  EXPECT_THROW(random_model_weights(config, slice, parse_weight_format("q8"), 1, pool()), std::invalid_argument);
}

}  // namespace
}  // namespace shardlm
