#include "runtime/ops/rms_norm.h"

#include <cmath>

namespace shardlm {

void rms_norm(const float* x, const float* weight, std::size_t rows, std::size_t dim, float eps, float* out) {
  for (std::size_t r = 0; r < rows; ++r) {
    const float* row = x + r * dim;
    float* result = out + r * dim;
    float sum_squares = 0.0f;
    for (std::size_t i = 0; i < dim; ++i) sum_squares += row[i] * row[i];
    const float inverse_rms = 1.0f / std::sqrt(sum_squares / static_cast<float>(dim) + eps);
    for (std::size_t i = 0; i < dim; ++i) result[i] = weight[i] * (row[i] * inverse_rms);
  }
}

}  // namespace shardlm
