#include "shard/shard_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "comm/control_message.h"
#include "golden/fixture.h"

namespace shardlm::shard {
namespace {

using ::testing::HasSubstr;

ModelConfig fixture_config(const std::string& name) { return load_model_config(testing::fixtures_dir() / name); }

std::string refusal(const ModelConfig& config, Layout layout, int world) {
  try {
    validate_layout(config, layout, world);
  } catch (const std::invalid_argument& error) {
    return error.what();
  }
  return "";
}

TEST(LayoutTest, RanksAreStageMajor) {
  const Layout layout{2, 3};
  EXPECT_EQ(coordinates_of(0, layout).stage, 0);
  EXPECT_EQ(coordinates_of(3, layout).stage, 1);
  EXPECT_EQ(coordinates_of(3, layout).tp_rank, 1);
  for (int rank = 0; rank < 6; ++rank) EXPECT_EQ(world_rank_of(coordinates_of(rank, layout), layout), rank);
}

TEST(LayoutTest, SplitEvenlyCoversTheRangeWithNearEqualParts) {
  std::int64_t next = 0;
  for (int part = 0; part < 3; ++part) {
    const IndexRange range = split_evenly(10, 3, part);
    EXPECT_EQ(range.begin, next);
    EXPECT_GE(range.size(), 3);
    EXPECT_LE(range.size(), 4);
    next = range.end;
  }
  EXPECT_EQ(next, 10);
}

TEST(LayoutTest, RefusesImpossibleLayoutsWithTheReason) {
  const ModelConfig config = fixture_config("llama_f32");  // 8 heads, FFN 160, 4 layers
  EXPECT_EQ(refusal(config, {2, 2}, 4), "");
  EXPECT_THAT(refusal(config, {2, 1}, 4), HasSubstr("needs tp x pp = 2 ranks, but the job has 4"));
  EXPECT_THAT(refusal(config, {3, 1}, 3), HasSubstr("tp 3 does not divide the 8 attention heads"));
  EXPECT_THAT(refusal(config, {1, 8}, 8), HasSubstr("pp 8 exceeds the 4 layers"));
  ModelConfig odd_ffn = config;
  odd_ffn.intermediate_size = 162;
  EXPECT_THAT(refusal(odd_ffn, {4, 1}, 4), HasSubstr("does not divide the FFN width"));
}

TEST(ShardPlanTest, BalanceLayersMinimisesTheLargestStage) {
  // Four equal layers, a heavy embedding on the first stage: the first stage takes fewer layers.
  const auto ranges = balance_layers({10, 10, 10, 10}, 15, 0, 2);
  ASSERT_EQ(ranges.size(), 2u);
  EXPECT_EQ(ranges[0], (IndexRange{0, 1}));
  EXPECT_EQ(ranges[1], (IndexRange{1, 4}));
  EXPECT_EQ(balance_layers({5, 5, 5, 5, 5, 5}, 0, 0, 3), (std::vector<IndexRange>{{0, 2}, {2, 4}, {4, 6}}));
  EXPECT_EQ(balance_layers({1, 1, 1, 1}, 0, 0, 4), (std::vector<IndexRange>{{0, 1}, {1, 2}, {2, 3}, {3, 4}}));
}

TEST(ShardPlanTest, TensorParallelRanksShareHeadsFfnAndVocabulary) {
  const ModelConfig config = fixture_config("qwen3_f32");  // 8 heads, 4 KV heads, FFN 160, vocab 512
  const ModelFolder folder(testing::fixtures_dir() / "qwen3_f32");
  const ShardPlan plan = make_shard_plan(config, {4, 1}, measure_model_bytes(folder, config));
  ASSERT_EQ(plan.ranks.size(), 4u);
  for (int r = 0; r < 4; ++r) {
    const ModelSlice& slice = plan.ranks[static_cast<std::size_t>(r)].slice;
    EXPECT_EQ(slice.layers, (IndexRange{0, 4}));
    EXPECT_EQ(slice.q_heads, (IndexRange{2 * r, 2 * r + 2}));
    EXPECT_EQ(slice.kv_heads, (IndexRange{r, r + 1}));
    EXPECT_EQ(slice.ffn, (IndexRange{40 * r, 40 * r + 40}));
    EXPECT_EQ(slice.vocab, (IndexRange{128 * r, 128 * r + 128}));
    EXPECT_TRUE(slice.has_embedding);
    EXPECT_TRUE(slice.has_head);
  }
}

TEST(ShardPlanTest, MoreTensorRanksThanKvHeadsReplicateKvHeads) {
  const ModelConfig config = fixture_config("qwen2_f32");  // 8 heads over 2 KV heads
  const ModelFolder folder(testing::fixtures_dir() / "qwen2_f32");
  const ShardPlan plan = make_shard_plan(config, {4, 1}, measure_model_bytes(folder, config));
  const std::vector<IndexRange> expected = {{0, 1}, {0, 1}, {1, 2}, {1, 2}};
  for (std::size_t r = 0; r < 4; ++r) EXPECT_EQ(plan.ranks[r].slice.kv_heads, expected[r]);
}

TEST(ShardPlanTest, PipelineStagesSplitLayersAndPlaceEmbeddingAndHead) {
  const ModelConfig config = fixture_config("llama_mha_f32");
  const ModelFolder folder(testing::fixtures_dir() / "llama_mha_f32");
  const ModelBytes bytes = measure_model_bytes(folder, config);
  const ShardPlan plan = make_shard_plan(config, {2, 2}, bytes);
  ASSERT_EQ(plan.ranks.size(), 4u);
  EXPECT_EQ(plan.ranks[0].slice.layers, plan.ranks[1].slice.layers);
  EXPECT_EQ(plan.ranks[0].slice.layers.begin, 0);
  EXPECT_EQ(plan.ranks[2].slice.layers.begin, plan.ranks[0].slice.layers.end);
  EXPECT_EQ(plan.ranks[3].slice.layers.end, 4);
  EXPECT_TRUE(plan.ranks[0].slice.has_embedding);
  EXPECT_FALSE(plan.ranks[0].slice.has_head);
  EXPECT_FALSE(plan.ranks[3].slice.has_embedding);
  EXPECT_TRUE(plan.ranks[3].slice.has_head);

  // Every weight byte is placed once, except norms, which every TP rank of a stage holds.
  std::size_t placed = 0;
  for (const auto& rank : plan.ranks) placed += rank.weight_bytes;
  std::size_t total = bytes.embedding + bytes.lm_head + bytes.final_norm;
  std::size_t replicated = bytes.final_norm;
  for (const auto& layer : bytes.layers) {
    total += layer.total();
    replicated += layer.replicated;
  }
  EXPECT_EQ(placed, total + replicated);
}

TEST(ControlMessageTest, RoundTripsThroughBoostSerialization) {
  comm::ControlMessage message;
  message.kind = comm::ControlMessage::Kind::Forward;
  message.sequences = {3, 9};
  message.tokens = {{1, 2, 3}, {40000}};
  message.all_positions = true;
  EXPECT_EQ(comm::deserialize(comm::serialize(message)), message);
}

TEST(ControlMessageTest, CorruptBytesAreRefused) {
  EXPECT_THROW(comm::deserialize(std::string("\x02\xff\xff\xff\xff\xff\xff\xff\x7f", 9)), std::runtime_error);
}

}  // namespace
}  // namespace shardlm::shard
