#include "bench/synthetic_model.h"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "runtime/io/safetensors_writer.h"

namespace shardlm::bench {

namespace {

std::vector<std::byte> random_bf16(std::size_t count, float scale, float offset, std::mt19937& rng) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<std::byte> bytes(count * 2);
  for (std::size_t i = 0; i < count; ++i) {
    const std::uint16_t value = f32_to_bf16(offset + normal(rng));
    bytes[2 * i] = static_cast<std::byte>(value & 0xff);
    bytes[2 * i + 1] = static_cast<std::byte>(value >> 8);
  }
  return bytes;
}

}  // namespace

void write_synthetic_model(const std::filesystem::path& dir, const SyntheticModelShape& shape, std::uint32_t seed) {
  std::filesystem::create_directories(dir);
  std::mt19937 rng(seed);
  SafetensorsWriter writer;
  const std::int64_t head_dim = shape.hidden / shape.heads;
  const auto matrix = [&](const std::string& name, std::int64_t rows, std::int64_t cols) {
    writer.add(name, StorageType::BF16, {rows, cols}, random_bf16(static_cast<std::size_t>(rows * cols), 0.05f, 0.0f, rng));
  };
  const auto norm = [&](const std::string& name, std::int64_t n) {
    writer.add(name, StorageType::BF16, {n}, random_bf16(static_cast<std::size_t>(n), 0.1f, 1.0f, rng));
  };
  matrix("model.embed_tokens.weight", shape.vocab, shape.hidden);
  matrix("lm_head.weight", shape.vocab, shape.hidden);
  norm("model.norm.weight", shape.hidden);
  for (std::int64_t layer = 0; layer < shape.layers; ++layer) {
    const std::string prefix = fmt::format("model.layers.{}.", layer);
    norm(prefix + "input_layernorm.weight", shape.hidden);
    norm(prefix + "post_attention_layernorm.weight", shape.hidden);
    matrix(prefix + "self_attn.q_proj.weight", shape.heads * head_dim, shape.hidden);
    matrix(prefix + "self_attn.k_proj.weight", shape.kv_heads * head_dim, shape.hidden);
    matrix(prefix + "self_attn.v_proj.weight", shape.kv_heads * head_dim, shape.hidden);
    matrix(prefix + "self_attn.o_proj.weight", shape.hidden, shape.heads * head_dim);
    matrix(prefix + "mlp.gate_proj.weight", shape.intermediate, shape.hidden);
    matrix(prefix + "mlp.up_proj.weight", shape.intermediate, shape.hidden);
    matrix(prefix + "mlp.down_proj.weight", shape.hidden, shape.intermediate);
  }
  writer.write(dir / "model.safetensors");
  const nlohmann::json config = {{"architectures", {"LlamaForCausalLM"}},
                                 {"vocab_size", shape.vocab},
                                 {"hidden_size", shape.hidden},
                                 {"intermediate_size", shape.intermediate},
                                 {"num_hidden_layers", shape.layers},
                                 {"num_attention_heads", shape.heads},
                                 {"num_key_value_heads", shape.kv_heads},
                                 {"max_position_embeddings", 2048},
                                 {"rms_norm_eps", 1e-5},
                                 {"rope_theta", 10000.0},
                                 {"tie_word_embeddings", false},
                                 {"bos_token_id", 1},
                                 {"eos_token_id", 2},
                                 {"torch_dtype", "bfloat16"}};
  std::ofstream(dir / "config.json") << config.dump(2);
}

}  // namespace shardlm::bench
