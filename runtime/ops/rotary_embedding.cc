#include "runtime/ops/rotary_embedding.h"

#include <cmath>
#include <numbers>

namespace shardlm {

std::vector<float> rope_inverse_frequencies(const RopeConfig& config, std::int64_t head_dim) {
  const std::size_t half = static_cast<std::size_t>(head_dim / 2);
  std::vector<float> inv_freq(half);
  for (std::size_t i = 0; i < half; ++i) {
    const double exponent = static_cast<double>(2 * i) / static_cast<double>(head_dim);
    inv_freq[i] = static_cast<float>(1.0 / std::pow(config.theta, exponent));
  }
  switch (config.type) {
    case RopeConfig::Type::Default: break;
    case RopeConfig::Type::Linear:
      for (auto& f : inv_freq) f = static_cast<float>(f / config.factor);
      break;
    case RopeConfig::Type::Llama3: {
      // Long wavelengths (beyond the original context / low_freq_factor) are slowed by `factor`,
      // short ones (below original / high_freq_factor) kept, and the band between interpolated.
      const double original = static_cast<double>(config.original_max_positions);
      const double low_freq_wavelength = original / config.low_freq_factor;
      const double high_freq_wavelength = original / config.high_freq_factor;
      for (auto& f : inv_freq) {
        const double frequency = f;
        const double wavelength = 2.0 * std::numbers::pi / frequency;
        if (wavelength > low_freq_wavelength) {
          f = static_cast<float>(frequency / config.factor);
        } else if (wavelength >= high_freq_wavelength) {
          const double smooth =
              (original / wavelength - config.low_freq_factor) / (config.high_freq_factor - config.low_freq_factor);
          f = static_cast<float>((1.0 - smooth) * frequency / config.factor + smooth * frequency);
        }
      }
      break;
    }
  }
  return inv_freq;
}

RotaryEmbedding::RotaryEmbedding(const RopeConfig& config, std::int64_t head_dim)
    : head_dim_(static_cast<std::size_t>(head_dim)), inv_freq_(rope_inverse_frequencies(config, head_dim)) {}

void RotaryEmbedding::apply(float* heads, std::size_t n_heads, std::int64_t position) const {
  const std::size_t half = head_dim_ / 2;
  // Angles are formed in f32 as transformers does, so long positions round the same way.
  float cosines[512];
  float sines[512];
  std::vector<float> spill;
  float* cos_values = cosines;
  float* sin_values = sines;
  if (half > 512) {
    spill.resize(2 * half);
    cos_values = spill.data();
    sin_values = spill.data() + half;
  }
  const float pos = static_cast<float>(position);
  for (std::size_t i = 0; i < half; ++i) {
    const float angle = pos * inv_freq_[i];
    cos_values[i] = std::cos(angle);
    sin_values[i] = std::sin(angle);
  }
  for (std::size_t h = 0; h < n_heads; ++h) {
    float* head = heads + h * head_dim_;
    for (std::size_t i = 0; i < half; ++i) {
      const float first = head[i];
      const float second = head[i + half];
      head[i] = first * cos_values[i] - second * sin_values[i];
      head[i + half] = second * cos_values[i] + first * sin_values[i];
    }
  }
}

}  // namespace shardlm
