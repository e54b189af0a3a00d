#include "runtime/model/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace shardlm {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

json base_config(const std::string& architecture = "LlamaForCausalLM") {
  return {{"architectures", {architecture}},
          {"vocab_size", 1000},
          {"hidden_size", 256},
          {"intermediate_size", 512},
          {"num_hidden_layers", 4},
          {"num_attention_heads", 8},
          {"num_key_value_heads", 2},
          {"rms_norm_eps", 1e-5},
          {"max_position_embeddings", 2048},
          {"bos_token_id", 1},
          {"eos_token_id", 2}};
}

std::string parse_error(const json& config) {
  try {
    parse_model_config(config);
  } catch (const std::runtime_error& error) {
    return error.what();
  }
  return "";
}

TEST(ModelConfigTest, DerivesHeadDimAndDefaults) {
  const ModelConfig config = parse_model_config(base_config());
  EXPECT_EQ(config.architecture, "LlamaForCausalLM");
  EXPECT_EQ(config.head_dim, 32);
  EXPECT_EQ(config.q_dim(), 256);
  EXPECT_EQ(config.kv_dim(), 64);
  EXPECT_EQ(config.rope.type, RopeConfig::Type::Default);
  EXPECT_DOUBLE_EQ(config.rope.theta, 10000.0);
  EXPECT_FALSE(config.tie_word_embeddings);
  EXPECT_FALSE(config.qkv_bias);
  EXPECT_EQ(config.sliding_window, (std::vector<std::int64_t>(4, 0)));
  EXPECT_EQ(config.eos_token_ids, (std::vector<std::int64_t>{2}));
}

TEST(ModelConfigTest, OlderRopeStyleWithTopLevelThetaAndRopeScaling) {
  json raw = base_config();
  raw["rope_theta"] = 500000.0;
  raw["rope_scaling"] = {{"rope_type", "llama3"},
                         {"factor", 32.0},
                         {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0},
                         {"original_max_position_embeddings", 8192}};
  const ModelConfig config = parse_model_config(raw);
  EXPECT_EQ(config.rope.type, RopeConfig::Type::Llama3);
  EXPECT_DOUBLE_EQ(config.rope.theta, 500000.0);
  EXPECT_DOUBLE_EQ(config.rope.factor, 32.0);
  EXPECT_EQ(config.rope.original_max_positions, 8192);
}

TEST(ModelConfigTest, OldestRopeScalingUsesTypeKey) {
  json raw = base_config();
  raw["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  const ModelConfig config = parse_model_config(raw);
  EXPECT_EQ(config.rope.type, RopeConfig::Type::Linear);
  EXPECT_DOUBLE_EQ(config.rope.factor, 2.0);
}

TEST(ModelConfigTest, NewerRopeParametersStyle) {
  json raw = base_config();
  raw["rope_parameters"] = {{"rope_type", "llama3"},      {"rope_theta", 100.0},      {"factor", 8.0},
                            {"low_freq_factor", 1.0},     {"high_freq_factor", 4.0},
                            {"original_max_position_embeddings", 32}};
  const ModelConfig config = parse_model_config(raw);
  EXPECT_EQ(config.rope.type, RopeConfig::Type::Llama3);
  EXPECT_DOUBLE_EQ(config.rope.theta, 100.0);
  EXPECT_EQ(config.rope.original_max_positions, 32);
}

TEST(ModelConfigTest, NullRopeScalingMeansDefault) {
  json raw = base_config();
  raw["rope_theta"] = 1e6;
  raw["rope_scaling"] = nullptr;
  const ModelConfig config = parse_model_config(raw);
  EXPECT_EQ(config.rope.type, RopeConfig::Type::Default);
  EXPECT_DOUBLE_EQ(config.rope.theta, 1e6);
}

TEST(ModelConfigTest, RejectsUnsupportedRopeType) {
  json raw = base_config();
  raw["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  EXPECT_THAT(parse_error(raw), HasSubstr("unsupported rope type 'yarn'"));
}

TEST(ModelConfigTest, Qwen2HasQkvBiasButNoOutputBias) {
  const ModelConfig config = parse_model_config(base_config("Qwen2ForCausalLM"));
  EXPECT_TRUE(config.qkv_bias);
  EXPECT_FALSE(config.o_bias);
  EXPECT_FALSE(config.qk_norm);
}

TEST(ModelConfigTest, Qwen3HasQkNormAndExplicitHeadDim) {
  json raw = base_config("Qwen3ForCausalLM");
  raw["head_dim"] = 128;
  const ModelConfig config = parse_model_config(raw);
  EXPECT_TRUE(config.qk_norm);
  EXPECT_EQ(config.head_dim, 128);
  EXPECT_EQ(config.q_dim(), 1024);
}

TEST(ModelConfigTest, LlamaAttentionBiasCoversAllProjections) {
  json raw = base_config();
  raw["attention_bias"] = true;
  raw["mlp_bias"] = true;
  const ModelConfig config = parse_model_config(raw);
  EXPECT_TRUE(config.qkv_bias);
  EXPECT_TRUE(config.o_bias);
  EXPECT_TRUE(config.mlp_bias);
}

TEST(ModelConfigTest, MistralSlidingWindowAppliesToEveryLayer) {
  json raw = base_config("MistralForCausalLM");
  raw["sliding_window"] = 4096;
  EXPECT_EQ(parse_model_config(raw).sliding_window, (std::vector<std::int64_t>(4, 4096)));
  raw["sliding_window"] = nullptr;
  EXPECT_EQ(parse_model_config(raw).sliding_window, (std::vector<std::int64_t>(4, 0)));
}

TEST(ModelConfigTest, QwenSlidingWindowStartsAtMaxWindowLayers) {
  json raw = base_config("Qwen2ForCausalLM");
  raw["sliding_window"] = 64;
  raw["max_window_layers"] = 2;
  EXPECT_EQ(parse_model_config(raw).sliding_window, (std::vector<std::int64_t>(4, 0)));
  raw["use_sliding_window"] = true;
  EXPECT_EQ(parse_model_config(raw).sliding_window, (std::vector<std::int64_t>{0, 0, 64, 64}));
}

TEST(ModelConfigTest, ExplicitLayerTypesWin) {
  json raw = base_config("Qwen3ForCausalLM");
  raw["sliding_window"] = 32;
  raw["layer_types"] = {"sliding_attention", "full_attention", "sliding_attention", "full_attention"};
  EXPECT_EQ(parse_model_config(raw).sliding_window, (std::vector<std::int64_t>{32, 0, 32, 0}));
}

TEST(ModelConfigTest, EosMayBeAList) {
  json raw = base_config();
  raw["eos_token_id"] = {128001, 128009};
  EXPECT_EQ(parse_model_config(raw).eos_token_ids, (std::vector<std::int64_t>{128001, 128009}));
}

TEST(ModelConfigTest, RejectsHeadsNotDivisibleByKvHeads) {
  json raw = base_config();
  raw["num_key_value_heads"] = 3;
  EXPECT_THAT(parse_error(raw), HasSubstr("not a multiple of num_key_value_heads 3"));
}

TEST(ModelConfigTest, RejectsMissingField) {
  json raw = base_config();
  raw.erase("hidden_size");
  EXPECT_THAT(parse_error(raw), HasSubstr("'hidden_size'"));
}

TEST(ModelConfigTest, RejectsUnsupportedActivation) {
  json raw = base_config();
  raw["hidden_act"] = "gelu";
  EXPECT_THAT(parse_error(raw), HasSubstr("unsupported hidden_act 'gelu'"));
}

TEST(ModelConfigTest, RejectsUnknownArchitecture) {
  EXPECT_THAT(parse_error(base_config("FalconForCausalLM")), HasSubstr("unsupported architecture 'FalconForCausalLM'"));
}

}  // namespace
}  // namespace shardlm
