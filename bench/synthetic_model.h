#pragma once

#include <cstdint>
#include <filesystem>

namespace shardlm::bench {

struct SyntheticModelShape {
  std::int64_t vocab = 8192;
  std::int64_t hidden = 512;
  std::int64_t intermediate = 2048;
  std::int64_t layers = 8;
  std::int64_t heads = 8;
  std::int64_t kv_heads = 8;
};

// Writes a LlamaForCausalLM folder (config.json, model.safetensors) with random bf16 weights of the
// given shape, for measuring memory and speed where no real model of that shape is at hand.
void write_synthetic_model(const std::filesystem::path& dir, const SyntheticModelShape& shape, std::uint32_t seed);

}  // namespace shardlm::bench
