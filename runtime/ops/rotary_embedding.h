#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/model/model_config.h"

namespace shardlm {

// Rotary position embedding in the "rotate half" layout of Hugging Face Llama-family models: element
// i of a head is paired with element i + head_dim/2, rotated by position * inv_freq[i].
class RotaryEmbedding {
 public:
  RotaryEmbedding(const RopeConfig& config, std::int64_t head_dim);

  // Rotates n_heads consecutive heads of head_dim values, all at the same position.
  void apply(float* heads, std::size_t n_heads, std::int64_t position) const;

  const std::vector<float>& inverse_frequencies() const { return inv_freq_; }

 private:
  std::size_t head_dim_;
  std::vector<float> inv_freq_;
};

// The inverse frequencies after the rope config's scaling rule (default, linear or llama3).
std::vector<float> rope_inverse_frequencies(const RopeConfig& config, std::int64_t head_dim);

}  // namespace shardlm
