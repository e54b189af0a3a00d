#include <cmath>
#include <cstdint>

#include "runtime/kernels/matmul.h"

namespace shardlm {

namespace {

float reference_weight(const WeightMatrix& w, std::size_t r, std::size_t c) {
  switch (w.dtype) {
    case DType::F32: return static_cast<const float*>(w.row(r))[c];
    case DType::F16: return f16_to_f32(static_cast<const std::uint16_t*>(w.row(r))[c]);
    case DType::BF16: return bf16_to_f32(static_cast<const std::uint16_t*>(w.row(r))[c]);
  }
  return NAN;
}

}  // namespace

void matmul_reference(const WeightMatrix& w, const float* x, std::size_t n_tokens, float* y) {
  for (std::size_t t = 0; t < n_tokens; ++t) {
    const float* token = x + t * w.cols;
    for (std::size_t r = 0; r < w.rows; ++r) {
      double sum = 0.0;
      for (std::size_t c = 0; c < w.cols; ++c) {
        sum += static_cast<double>(reference_weight(w, r, c)) * static_cast<double>(token[c]);
      }
      y[t * w.rows + r] = static_cast<float>(sum);
    }
  }
}

}  // namespace shardlm
