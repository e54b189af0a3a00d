#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "runtime/quant/affine.h"

namespace shardlm {

// Rotary position embedding parameters, from either config.json style: the older top-level
// `rope_theta` + `rope_scaling`, or the newer `rope_parameters` object.
struct RopeConfig {
  enum class Type { Default, Linear, Llama3 };
  Type type = Type::Default;
  double theta = 10000.0;
  double factor = 1.0;                    // linear, llama3
  double low_freq_factor = 1.0;           // llama3
  double high_freq_factor = 4.0;          // llama3
  std::int64_t original_max_positions = 8192;  // llama3
};

// config.json's "quantization" object as MLX writes it: a default group size and bit width, and
// overrides keyed by module path ("model.layers.3.mlp.down_proj": {"group_size": 64, "bits": 8}, or
// false for a module left in float). Which modules are quantized is told by the weight files (a
// module with "<module>.scales"); this says with which parameters.
struct QuantizationConfig {
  std::optional<QuantSpec> defaults;
  std::map<std::string, std::optional<QuantSpec>> overrides;

  bool empty() const { return !defaults && overrides.empty(); }
  // The parameters of a module, or nothing for one that is not quantized.
  std::optional<QuantSpec> for_module(const std::string& module) const;
};

// Everything the decoder needs from config.json, with the per-family differences resolved into
// plain switches so that one decoder serves every family.
struct ModelConfig {
  std::string architecture;  // e.g. "LlamaForCausalLM"
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;
  std::int64_t intermediate_size = 0;
  std::int64_t num_layers = 0;
  std::int64_t num_heads = 0;
  std::int64_t num_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  RopeConfig rope;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;     // q_proj, k_proj, v_proj carry a bias
  bool o_bias = false;       // o_proj carries a bias
  bool mlp_bias = false;     // gate_proj, up_proj, down_proj carry a bias
  bool qk_norm = false;      // RMSNorm over each head of q and k before RoPE (Qwen3)
  std::vector<std::int64_t> sliding_window;  // per layer; 0 means full causal attention
  QuantizationConfig quantization;
  std::vector<std::int64_t> bos_token_ids;
  std::vector<std::int64_t> eos_token_ids;

  std::int64_t q_dim() const { return num_heads * head_dim; }
  std::int64_t kv_dim() const { return num_kv_heads * head_dim; }
};

ModelConfig parse_model_config(const nlohmann::json& config);
ModelConfig load_model_config(const std::filesystem::path& model_dir);

// Names of the architectures this build can run, for error messages and `shardlm info`.
std::vector<std::string> supported_architectures();

}  // namespace shardlm
