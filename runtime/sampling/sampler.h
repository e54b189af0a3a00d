#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace shardlm {

struct SamplingParams {
  float temperature = 0.0f;  // 0: greedy
  std::int32_t top_k = 0;    // 0: off
  float top_p = 1.0f;        // 1: off
  float min_p = 0.0f;        // 0: off
  float repetition_penalty = 1.0f;
  std::int32_t repetition_context = 64;  // how many recent tokens the penalty looks at
  std::uint64_t seed = 0;

  // Throws std::invalid_argument naming the first parameter out of range.
  void validate() const;
};

// Picks the next token from logits. The steps run in the order of Hugging Face's logits processors:
// repetition penalty, temperature, top-k, top-p, min-p, then a draw from the remaining distribution.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& params);

  // `history` holds the tokens so far (prompt and generated), for the repetition penalty.
  // The logits are modified in place.
  std::int32_t sample(std::span<float> logits, std::span<const std::int32_t> history);

 private:
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<std::int32_t> order_;
};

// Each step on its own, for tests and for tools that need one of them.
void apply_repetition_penalty(std::span<float> logits, std::span<const std::int32_t> recent, float penalty);
std::int32_t argmax(std::span<const float> values);

}  // namespace shardlm
