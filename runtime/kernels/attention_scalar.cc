#include <algorithm>
#include <cmath>

#include "runtime/kernels/attention_kernels.h"

namespace shardlm {

void attend_heads_scalar(const float* queries, std::size_t n_heads, const float* keys, const float* values,
                         std::size_t kv_row_stride, std::size_t n_keys, std::size_t head_dim, float scale,
                         float* scores, float* out) {
  for (std::size_t h = 0; h < n_heads; ++h) {
    const float* q = queries + h * head_dim;
    float* row = scores + h * n_keys;
    for (std::size_t j = 0; j < n_keys; ++j) {
      const float* k = keys + j * kv_row_stride;
      float dot = 0.0f;
      for (std::size_t d = 0; d < head_dim; ++d) dot += q[d] * k[d];
      row[j] = scale * dot;
    }
    softmax_scalar(row, n_keys);
    float* o = out + h * head_dim;
    std::fill(o, o + head_dim, 0.0f);
    for (std::size_t j = 0; j < n_keys; ++j) {
      const float* v = values + j * kv_row_stride;
      for (std::size_t d = 0; d < head_dim; ++d) o[d] += row[j] * v[d];
    }
  }
}

void softmax_scalar(float* values, std::size_t n) {
  if (n == 0) return;
  const float largest = *std::max_element(values, values + n);
  float total = 0.0f;
  for (std::size_t i = 0; i < n; ++i) {
    values[i] = std::exp(values[i] - largest);
    total += values[i];
  }
  const float inverse = 1.0f / total;
  for (std::size_t i = 0; i < n; ++i) values[i] *= inverse;
}

}  // namespace shardlm
