#include "runtime/grad/rotary.h"

#include <cassert>
#include <cmath>

#include "runtime/ops/rotary_embedding.h"

namespace shardlm::grad {

RotaryTable::RotaryTable(const RopeConfig& config, std::int64_t head_dim, std::size_t positions)
    : half_(static_cast<std::size_t>(head_dim / 2)),
      positions_(positions),
      cos_(positions * half_),
      sin_(positions * half_) {
  const std::vector<float> inv_freq = rope_inverse_frequencies(config, head_dim);
  for (std::size_t p = 0; p < positions; ++p) {
    // Angles in f32, as the decoder and transformers form them.
    const float position = static_cast<float>(p);
    for (std::size_t i = 0; i < half_; ++i) {
      const float angle = position * inv_freq[i];
      cos_[p * half_ + i] = std::cos(angle);
      sin_[p * half_ + i] = std::sin(angle);
    }
  }
}

template <typename T>
void RotaryTable::rotate(T* heads, std::size_t n_heads, std::size_t position, bool inverse) const {
  assert(position < positions_);
  const float* cosines = cos_.data() + position * half_;
  const float* sines = sin_.data() + position * half_;
  const T sign = inverse ? T(-1) : T(1);
  for (std::size_t h = 0; h < n_heads; ++h) {
    T* head = heads + h * 2 * half_;
    for (std::size_t i = 0; i < half_; ++i) {
      const T c = cosines[i];
      const T s = sign * static_cast<T>(sines[i]);
      const T first = head[i];
      const T second = head[i + half_];
      head[i] = first * c - second * s;
      head[i + half_] = second * c + first * s;
    }
  }
}

template void RotaryTable::rotate<float>(float*, std::size_t, std::size_t, bool) const;
template void RotaryTable::rotate<double>(double*, std::size_t, std::size_t, bool) const;

}  // namespace shardlm::grad
